//! Roles: trust policies, session duration, description and tags.

use axum::response::Response;
use stratus_core::{Error, Kind};
use stratus_iam::store::{now_iso, random_id, Owner, Role};

use super::{constraint, encoded_document, name, path, required, validation, Ctx, Page};
use crate::services::sns::form::Params;
use crate::services::sns::xml::Xml;

/// AWS's bounds on a role's `MaxSessionDuration` (seconds).
const MIN_SESSION: i64 = 3600;
const MAX_SESSION: i64 = 43200;
/// Tags a role may carry.
pub(super) const MAX_TAGS: usize = 50;

pub(super) fn write_role(x: &mut Xml, tag: &str, r: &Role, boundary: Option<&str>) {
    x.open(tag)
        .leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.id)
        .leaf("Arn", &r.arn())
        .leaf("CreateDate", &r.created)
        .leaf("AssumeRolePolicyDocument", &encoded_document(&r.trust));
    if let Some(d) = &r.description {
        x.leaf("Description", d);
    }
    x.leaf("MaxSessionDuration", &r.max_session.to_string());
    super::boundaries::write_boundary(x, boundary);
    if !r.tags.is_empty() {
        write_tags(x, &r.tags);
    }
    x.close(tag);
}

pub(super) fn write_tags(x: &mut Xml, tags: &[(String, String)]) {
    x.open("Tags");
    for (k, v) in tags {
        x.open("member")
            .leaf("Key", k)
            .leaf("Value", v)
            .close("member");
    }
    x.close("Tags");
}

fn max_session(p: &Params) -> Result<Option<i64>, Error> {
    let Some(v) = p.get("MaxSessionDuration") else {
        return Ok(None);
    };
    let n: i64 = v
        .parse()
        .map_err(|_| validation(format!("Invalid value for MaxSessionDuration: {v}")))?;
    if n < MIN_SESSION {
        return Err(constraint(
            v,
            "maxSessionDuration",
            &format!("Member must have value greater than or equal to {MIN_SESSION}"),
        ));
    }
    if n > MAX_SESSION {
        return Err(constraint(
            v,
            "maxSessionDuration",
            &format!("Member must have value less than or equal to {MAX_SESSION}"),
        ));
    }
    Ok(Some(n))
}

fn description(p: &Params) -> Result<Option<&str>, Error> {
    match p.get("Description") {
        Some(d) if d.chars().count() > 1000 => Err(constraint(
            d,
            "description",
            "Member must have length less than or equal to 1000",
        )),
        d => Ok(d),
    }
}

pub(super) fn tags(p: &Params) -> Result<Vec<(String, String)>, Error> {
    refuse_duplicate_keys(p)?;
    let tags: Vec<(String, String)> = p.tags("Tags")?.into_iter().collect();
    if tags.len() > MAX_TAGS {
        return Err(Error::new(
            "LimitExceeded",
            Kind::Conflict,
            format!("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_TAGS}"),
        ));
    }
    for (k, v) in &tags {
        if k.is_empty()
            || k.chars().count() > 128
            || v.chars().count() > 256
            || k.starts_with("aws:")
        {
            return Err(validation(format!("Invalid tag: {k}")));
        }
    }
    Ok(tags)
}

/// IAM compares tag keys without case: `Team` and `team` in one request are the same key.
fn refuse_duplicate_keys(p: &Params) -> Result<(), Error> {
    let keys: Vec<String> = p
        .indexed("Tags", "member")
        .iter()
        .filter_map(|t| t.get("Key").map(str::to_lowercase))
        .collect();
    if keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k)) {
        return Err(Error::new(
            "InvalidInput",
            Kind::InvalidInput,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        ));
    }
    Ok(())
}

pub fn create_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = Role {
        name: name(p, "RoleName", 64)?.to_string(),
        id: random_id("AROA", 17),
        path: path(p, "Path")?.to_string(),
        trust: required(p, "AssumeRolePolicyDocument")?.to_string(),
        description: description(p)?.map(str::to_string),
        max_session: max_session(p)?.unwrap_or(MIN_SESSION),
        created: now_iso(),
        tags: tags(p)?,
    };
    let boundary = super::boundaries::requested(c, p)?;
    let role = c.iam.create_role(role)?;
    if let Some(arn) = &boundary {
        c.iam.set_boundary(Owner::Role, &role.name, Some(arn))?;
    }
    Ok(c.ok(|x| write_role(x, "Role", &role, boundary.as_deref())))
}

pub fn get_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = c.iam.role(name(p, "RoleName", 64)?)?;
    let boundary = c.iam.boundary(Owner::Role, &role.name)?;
    Ok(c.ok(|x| write_role(x, "Role", &role, boundary.as_deref())))
}

pub fn list_roles(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let roles = c.iam.list_roles(p.get("PathPrefix").unwrap_or("/"))?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.open("Roles");
        for r in page.slice(&roles) {
            write_role(x, "member", r, None);
        }
        x.close("Roles");
        page.write_end(x, roles.len());
    }))
}

pub fn delete_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam.delete_role(name(p, "RoleName", 64)?)?;
    Ok(c.empty())
}

pub fn update_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = name(p, "RoleName", 64)?;
    c.iam.update_role(role, description(p)?, max_session(p)?)?;
    Ok(c.ok(|_| {}))
}

pub fn update_role_description(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = name(p, "RoleName", 64)?;
    let d = required(p, "Description")?;
    description(p)?;
    c.iam.update_role(role, Some(d), None)?;
    let role = c.iam.role(role)?;
    Ok(c.ok(|x| write_role(x, "Role", &role, None)))
}

pub fn update_assume_role_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = name(p, "RoleName", 64)?;
    c.iam
        .update_assume_role_policy(role, required(p, "PolicyDocument")?)?;
    Ok(c.empty())
}

pub fn tag_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = name(p, "RoleName", 64)?;
    let tags = tags(p)?;
    let existing = c.iam.role(role)?.tags;
    let total = existing
        .iter()
        .filter(|(k, _)| !tags.iter().any(|(t, _)| t == k))
        .count()
        + tags.len();
    if total > MAX_TAGS {
        return Err(Error::new(
            "LimitExceeded",
            Kind::Conflict,
            format!("The number of tags has reached the maximum limit of {MAX_TAGS}."),
        ));
    }
    c.iam.tag_role(role, &tags)?;
    Ok(c.empty())
}

pub fn untag_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = name(p, "RoleName", 64)?;
    c.iam.untag_role(role, &p.members("TagKeys"))?;
    Ok(c.empty())
}

pub fn list_role_tags(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = c.iam.role(name(p, "RoleName", 64)?)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        write_tags(x, page.slice(&role.tags));
        page.write_end(x, role.tags.len());
    }))
}
