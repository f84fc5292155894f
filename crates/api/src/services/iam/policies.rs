//! Inline policies of roles and users, customer-managed policies with their versions, the
//! AWS-managed ones, and attachments.

use axum::response::Response;
use stratus_core::{Error, Kind};
use stratus_iam::store::{ManagedPolicy, Owner, PolicyVersion};

use super::{constraint, encoded_document, name, path, required, Ctx, Page};
use crate::services::sns::form::Params;
use crate::services::sns::xml::Xml;

fn owner_param(owner: Owner) -> &'static str {
    match owner {
        Owner::User => "UserName",
        Owner::Role => "RoleName",
        Owner::Group => "GroupName",
    }
}

/// The longest name of a user or role (64) or group (128).
fn owner_max(owner: Owner) -> usize {
    match owner {
        Owner::Group => 128,
        _ => 64,
    }
}

fn put_inline(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let who = name(p, owner_param(owner), owner_max(owner))?;
    let policy = name(p, "PolicyName", 128)?;
    c.iam
        .put_inline(owner, who, policy, required(p, "PolicyDocument")?)?;
    Ok(c.empty())
}

fn get_inline(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let who = name(p, owner_param(owner), owner_max(owner))?;
    let policy = name(p, "PolicyName", 128)?;
    let doc = c.iam.get_inline(owner, who, policy)?;
    Ok(c.ok(|x| {
        x.leaf(owner_param(owner), who)
            .leaf("PolicyName", policy)
            .leaf("PolicyDocument", &encoded_document(&doc));
    }))
}

fn list_inline(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let names = c
        .iam
        .list_inline(owner, name(p, owner_param(owner), owner_max(owner))?)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.open("PolicyNames");
        for n in page.slice(&names) {
            x.leaf("member", n);
        }
        x.close("PolicyNames");
        page.write_end(x, names.len());
    }))
}

fn delete_inline(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let who = name(p, owner_param(owner), owner_max(owner))?;
    c.iam
        .delete_inline(owner, who, name(p, "PolicyName", 128)?)?;
    Ok(c.empty())
}

pub fn put_role_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    put_inline(c, p, Owner::Role)
}
pub fn get_role_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    get_inline(c, p, Owner::Role)
}
pub fn list_role_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    list_inline(c, p, Owner::Role)
}
pub fn delete_role_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    delete_inline(c, p, Owner::Role)
}
pub fn put_user_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    put_inline(c, p, Owner::User)
}
pub fn get_user_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    get_inline(c, p, Owner::User)
}
pub fn list_user_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    list_inline(c, p, Owner::User)
}
pub fn delete_user_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    delete_inline(c, p, Owner::User)
}

fn write_policy(x: &mut Xml, tag: &str, m: &ManagedPolicy) {
    x.open(tag)
        .leaf("PolicyName", &m.name)
        .leaf("DefaultVersionId", &m.default_version)
        .leaf("PolicyId", &m.id)
        .leaf("Path", &m.path)
        .leaf("Arn", &m.arn)
        .leaf("AttachmentCount", &m.attachments.to_string())
        .leaf("PermissionsBoundaryUsageCount", "0")
        .leaf("IsAttachable", "true");
    if let Some(d) = m.description.as_deref().filter(|_| tag == "Policy") {
        x.leaf("Description", d);
    }
    x.leaf("CreateDate", &m.created)
        .leaf("UpdateDate", &m.updated)
        .close(tag);
}

fn write_version(x: &mut Xml, tag: &str, v: &PolicyVersion, with_document: bool) {
    x.open(tag);
    if with_document {
        x.leaf("Document", &encoded_document(&v.document));
    }
    x.leaf("VersionId", &v.version)
        .leaf(
            "IsDefaultVersion",
            if v.is_default { "true" } else { "false" },
        )
        .leaf("CreateDate", &v.created)
        .close(tag);
}

/// A policy ARN parameter: at least 20 characters (IAM's constraint), any account.
fn policy_arn(p: &Params) -> Result<&str, Error> {
    let arn = required(p, "PolicyArn")?;
    if arn.len() < 20 {
        return Err(constraint(
            arn,
            "policyArn",
            "Member must have length greater than or equal to 20",
        ));
    }
    if !arn.starts_with("arn:aws:iam::") {
        return Err(Error::new(
            "InvalidInput",
            Kind::InvalidInput,
            format!("ARN {arn} is not valid."),
        ));
    }
    Ok(arn)
}

fn version_id(p: &Params) -> Result<&str, Error> {
    let v = required(p, "VersionId")?;
    if !(v.starts_with('v') && v.len() > 1 && v[1..].bytes().all(|b| b.is_ascii_digit())) {
        return Err(constraint(
            v,
            "versionId",
            "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?",
        ));
    }
    Ok(v)
}

pub fn create_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let policy = c.iam.create_policy(
        name(p, "PolicyName", 128)?,
        path(p, "Path")?,
        required(p, "PolicyDocument")?,
        p.get("Description"),
    )?;
    Ok(c.ok(|x| write_policy(x, "Policy", &policy)))
}

pub fn get_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let policy = c.iam.policy(policy_arn(p)?)?;
    Ok(c.ok(|x| write_policy(x, "Policy", &policy)))
}

pub fn list_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let scope = p.get("Scope").unwrap_or("All");
    if !matches!(scope, "All" | "AWS" | "Local") {
        return Err(constraint(
            scope,
            "scope",
            "Member must satisfy enum value set: [All, AWS, Local]",
        ));
    }
    let only_attached = p.get("OnlyAttached") == Some("true");
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let mut policies = c.iam.list_policies(scope, only_attached)?;
    policies.retain(|m| m.path.starts_with(prefix));
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.open("Policies");
        for m in page.slice(&policies) {
            write_policy(x, "member", m);
        }
        x.close("Policies");
        page.write_end(x, policies.len());
    }))
}

pub fn delete_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam.delete_policy(policy_arn(p)?)?;
    Ok(c.empty())
}

pub fn create_policy_version(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let v = c.iam.create_policy_version(
        policy_arn(p)?,
        required(p, "PolicyDocument")?,
        p.get("SetAsDefault") == Some("true"),
    )?;
    Ok(c.ok(|x| write_version(x, "PolicyVersion", &v, false)))
}

pub fn get_policy_version(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let v = c.iam.policy_version(policy_arn(p)?, version_id(p)?)?;
    Ok(c.ok(|x| write_version(x, "PolicyVersion", &v, true)))
}

pub fn list_policy_versions(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let versions = c.iam.list_policy_versions(policy_arn(p)?)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.open("Versions");
        for v in page.slice(&versions) {
            write_version(x, "member", v, false);
        }
        x.close("Versions");
        page.write_end(x, versions.len());
    }))
}

pub fn delete_policy_version(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam
        .delete_policy_version(policy_arn(p)?, version_id(p)?)?;
    Ok(c.empty())
}

pub fn set_default_policy_version(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam
        .set_default_policy_version(policy_arn(p)?, version_id(p)?)?;
    Ok(c.empty())
}

fn attach(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let who = name(p, owner_param(owner), owner_max(owner))?;
    c.iam.attach(owner, who, policy_arn(p)?)?;
    Ok(c.empty())
}

fn detach(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let who = name(p, owner_param(owner), owner_max(owner))?;
    c.iam.detach(owner, who, policy_arn(p)?)?;
    Ok(c.empty())
}

fn list_attached(c: &Ctx, p: &Params, owner: Owner) -> Result<Response, Error> {
    let attached = c
        .iam
        .attached(owner, name(p, owner_param(owner), owner_max(owner))?)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.open("AttachedPolicies");
        for (name, arn) in page.slice(&attached) {
            x.open("member")
                .leaf("PolicyName", name)
                .leaf("PolicyArn", arn)
                .close("member");
        }
        x.close("AttachedPolicies");
        page.write_end(x, attached.len());
    }))
}

pub fn attach_role_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    attach(c, p, Owner::Role)
}
pub fn detach_role_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    detach(c, p, Owner::Role)
}
pub fn list_attached_role_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    list_attached(c, p, Owner::Role)
}
pub fn attach_user_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    attach(c, p, Owner::User)
}
pub fn detach_user_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    detach(c, p, Owner::User)
}
pub fn list_attached_user_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    list_attached(c, p, Owner::User)
}

pub fn put_group_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    put_inline(c, p, Owner::Group)
}
pub fn get_group_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    get_inline(c, p, Owner::Group)
}
pub fn list_group_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    list_inline(c, p, Owner::Group)
}
pub fn delete_group_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    delete_inline(c, p, Owner::Group)
}
pub fn attach_group_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    attach(c, p, Owner::Group)
}
pub fn detach_group_policy(c: &Ctx, p: &Params) -> Result<Response, Error> {
    detach(c, p, Owner::Group)
}
pub fn list_attached_group_policies(c: &Ctx, p: &Params) -> Result<Response, Error> {
    list_attached(c, p, Owner::Group)
}
