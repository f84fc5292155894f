//! IAM through the Query protocol (`Version=2010-05-08`): form-encoded requests named by
//! `Action`, AWS's XML answers and `<ErrorResponse>` errors (SNS's writer, in IAM's
//! namespace). The state lives in `stratus-iam`; this module decodes, validates, calls it.
//!
//! # Layout
//! - [`users`]: users and their access keys.
//! - [`roles`]: roles, their trust policies and tags.
//! - [`groups`]: groups and their members.
//! - [`policies`]: inline and managed policies, versions, attachments.
//! - [`boundaries`]: permissions boundaries of users and roles.
//! - [`profiles`]: instance profiles and the role each holds.

pub mod boundaries;
pub mod groups;
pub mod policies;
pub mod profiles;
pub mod roles;
pub mod users;

use axum::body::Bytes;
use axum::response::Response;
use http::request::Parts;
use stratus_core::{Error, Kind};
use stratus_iam::Iam;

use crate::auth::Caller;
use crate::services::sns::form::Params;
use crate::services::sns::xml::{self, Xml};
use crate::Shared;

pub const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// What every operation gets.
pub struct Ctx<'a> {
    pub iam: &'a Iam,
    pub caller: &'a Caller,
    pub action: &'a str,
    pub request_id: String,
}

impl Ctx<'_> {
    pub fn ok(&self, result: impl FnOnce(&mut Xml)) -> Response {
        xml::ok_in(NS, self.action, &self.request_id, result)
    }

    pub fn empty(&self) -> Response {
        xml::empty_in(NS, self.action, &self.request_id)
    }
}

type Handler = fn(&Ctx, &Params) -> Result<Response, Error>;

/// Every IAM operation Stratus answers, by its `Action` name.
const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateUser", users::create_user),
    ("GetUser", users::get_user),
    ("ListUsers", users::list_users),
    ("UpdateUser", users::update_user),
    ("DeleteUser", users::delete_user),
    ("CreateAccessKey", users::create_access_key),
    ("ListAccessKeys", users::list_access_keys),
    ("UpdateAccessKey", users::update_access_key),
    ("DeleteAccessKey", users::delete_access_key),
    ("TagUser", users::tag_user),
    ("UntagUser", users::untag_user),
    ("ListUserTags", users::list_user_tags),
    ("CreateInstanceProfile", profiles::create_instance_profile),
    ("GetInstanceProfile", profiles::get_instance_profile),
    ("ListInstanceProfiles", profiles::list_instance_profiles),
    ("DeleteInstanceProfile", profiles::delete_instance_profile),
    (
        "AddRoleToInstanceProfile",
        profiles::add_role_to_instance_profile,
    ),
    (
        "RemoveRoleFromInstanceProfile",
        profiles::remove_role_from_instance_profile,
    ),
    (
        "ListInstanceProfilesForRole",
        profiles::list_instance_profiles_for_role,
    ),
    ("TagInstanceProfile", profiles::tag_instance_profile),
    ("UntagInstanceProfile", profiles::untag_instance_profile),
    (
        "ListInstanceProfileTags",
        profiles::list_instance_profile_tags,
    ),
    ("CreateRole", roles::create_role),
    ("GetRole", roles::get_role),
    ("ListRoles", roles::list_roles),
    ("DeleteRole", roles::delete_role),
    ("UpdateRole", roles::update_role),
    ("UpdateRoleDescription", roles::update_role_description),
    ("UpdateAssumeRolePolicy", roles::update_assume_role_policy),
    ("TagRole", roles::tag_role),
    ("UntagRole", roles::untag_role),
    ("ListRoleTags", roles::list_role_tags),
    ("PutRolePolicy", policies::put_role_policy),
    ("GetRolePolicy", policies::get_role_policy),
    ("ListRolePolicies", policies::list_role_policies),
    ("DeleteRolePolicy", policies::delete_role_policy),
    ("PutUserPolicy", policies::put_user_policy),
    ("GetUserPolicy", policies::get_user_policy),
    ("ListUserPolicies", policies::list_user_policies),
    ("DeleteUserPolicy", policies::delete_user_policy),
    ("CreatePolicy", policies::create_policy),
    ("GetPolicy", policies::get_policy),
    ("ListPolicies", policies::list_policies),
    ("DeletePolicy", policies::delete_policy),
    ("CreatePolicyVersion", policies::create_policy_version),
    ("GetPolicyVersion", policies::get_policy_version),
    ("ListPolicyVersions", policies::list_policy_versions),
    ("DeletePolicyVersion", policies::delete_policy_version),
    (
        "SetDefaultPolicyVersion",
        policies::set_default_policy_version,
    ),
    ("AttachRolePolicy", policies::attach_role_policy),
    ("DetachRolePolicy", policies::detach_role_policy),
    (
        "ListAttachedRolePolicies",
        policies::list_attached_role_policies,
    ),
    ("AttachUserPolicy", policies::attach_user_policy),
    ("DetachUserPolicy", policies::detach_user_policy),
    (
        "ListAttachedUserPolicies",
        policies::list_attached_user_policies,
    ),
    (
        "PutUserPermissionsBoundary",
        boundaries::put_user_permissions_boundary,
    ),
    (
        "DeleteUserPermissionsBoundary",
        boundaries::delete_user_permissions_boundary,
    ),
    (
        "PutRolePermissionsBoundary",
        boundaries::put_role_permissions_boundary,
    ),
    (
        "DeleteRolePermissionsBoundary",
        boundaries::delete_role_permissions_boundary,
    ),
    ("CreateGroup", groups::create_group),
    ("GetGroup", groups::get_group),
    ("ListGroups", groups::list_groups),
    ("DeleteGroup", groups::delete_group),
    ("AddUserToGroup", groups::add_user_to_group),
    ("RemoveUserFromGroup", groups::remove_user_from_group),
    ("ListGroupsForUser", groups::list_groups_for_user),
    ("PutGroupPolicy", policies::put_group_policy),
    ("GetGroupPolicy", policies::get_group_policy),
    ("ListGroupPolicies", policies::list_group_policies),
    ("DeleteGroupPolicy", policies::delete_group_policy),
    ("AttachGroupPolicy", policies::attach_group_policy),
    ("DetachGroupPolicy", policies::detach_group_policy),
    (
        "ListAttachedGroupPolicies",
        policies::list_attached_group_policies,
    ),
];

/// Whether `action` is an IAM operation Stratus answers.
pub fn is_operation(action: &str) -> bool {
    OPERATIONS.iter().any(|(n, _)| *n == action)
}

pub async fn handle(state: &Shared, caller: &Caller, parts: &Parts, body: Bytes) -> Response {
    let p = Params::decode(parts.uri.query().unwrap_or(""), &body);
    let action = p.get("Action").unwrap_or("");
    let ctx = Ctx {
        iam: &state.stores.iam,
        caller,
        action,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let result = match OPERATIONS.iter().find(|(n, _)| *n == action) {
        Some((_, handler)) => handler(&ctx, &p),
        None => Err(unknown_action(action)),
    };
    result.unwrap_or_else(|e| xml::error_in(NS, &e, &ctx.request_id))
}

/// The Query protocol's answer to a missing or unknown `Action`.
pub fn unknown_action(action: &str) -> Error {
    match action {
        "" => Error::new("MissingAction", Kind::InvalidInput, "Missing Action"),
        other => Error::new(
            "InvalidAction",
            Kind::InvalidInput,
            format!("Could not find operation {other} for version NO_VERSION_SPECIFIED"),
        ),
    }
}

// --- validation shared by the operations --------------------------------------------------

pub fn validation(message: impl Into<String>) -> Error {
    Error::new("ValidationError", Kind::InvalidInput, message)
}

/// `1 validation error detected: Value 'v' at 'member' failed to satisfy constraint: ...`
pub fn constraint(value: &str, member: &str, text: &str) -> Error {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {text}"
    ))
}

/// A required parameter (`ValidationError` naming it when absent).
pub fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, Error> {
    p.required(name)
}

/// A user, role, group or policy name: 1 to `max` characters of `[\w+=,.@-]`.
pub fn name<'a>(p: &'a Params, param: &str, max: usize) -> Result<&'a str, Error> {
    let v = required(p, param)?;
    let member = lower_first(param);
    if v.is_empty() || v.chars().count() > max {
        return Err(constraint(
            v,
            &member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(constraint(
            v,
            &member,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(v)
}

/// A path: `/` or `/a/b/`, at most 512 characters.
pub fn path<'a>(p: &'a Params, param: &str) -> Result<&'a str, Error> {
    let v = p.get(param).unwrap_or("/");
    let ok = v.starts_with('/')
        && v.ends_with('/')
        && v.len() <= 512
        && v.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if !ok {
        return Err(validation(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
        ));
    }
    Ok(v)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A policy document as IAM returns it: URL-encoded (botocore decodes it back to JSON).
pub fn encoded_document(doc: &str) -> String {
    percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One page of a list, as IAM's `Marker` and `MaxItems` ask: at most `MaxItems` (1 to 1000,
/// 100 when absent) items from where the previous page's `Marker` left off. The marker is
/// opaque to clients; botocore's paginators follow `IsTruncated` and `Marker`.
pub struct Page {
    start: usize,
    max: usize,
}

/// IAM's default and largest `MaxItems`.
const DEFAULT_MAX_ITEMS: usize = 100;
const LARGEST_MAX_ITEMS: usize = 1000;

impl Page {
    /// The page a request asks for; a bad `MaxItems` or `Marker` is a ValidationError.
    pub fn of(p: &Params) -> Result<Page, Error> {
        let max = match p.get("MaxItems") {
            None => DEFAULT_MAX_ITEMS,
            Some(v) => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| validation(format!("Invalid value for MaxItems: {v}")))?;
                if n < 1 {
                    return Err(constraint(
                        v,
                        "maxItems",
                        "Member must have value greater than or equal to 1",
                    ));
                }
                if n > LARGEST_MAX_ITEMS as i64 {
                    return Err(constraint(
                        v,
                        "maxItems",
                        "Member must have value less than or equal to 1000",
                    ));
                }
                n as usize
            }
        };
        let start = match p.get("Marker") {
            None => 0,
            Some(m) => decode_marker(m).ok_or_else(|| validation("Invalid Marker."))?,
        };
        Ok(Page { start, max })
    }

    /// The items of this page.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = self.start.min(items.len());
        let end = start.saturating_add(self.max).min(items.len());
        &items[start..end]
    }

    /// `IsTruncated`, and the `Marker` of the next page when there is one.
    pub fn write_end(&self, x: &mut Xml, total: usize) {
        let next = self.start.saturating_add(self.max);
        if next < total {
            x.leaf("IsTruncated", "true")
                .leaf("Marker", &encode_marker(next));
        } else {
            x.leaf("IsTruncated", "false");
        }
    }
}

/// A marker is the next item's position, base64-encoded so clients treat it as opaque.
fn encode_marker(position: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("page:{position}"))
}

fn decode_marker(marker: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(marker)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("page:")?
        .parse()
        .ok()
}
