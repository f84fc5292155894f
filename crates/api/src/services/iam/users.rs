//! Users and access keys.

use axum::response::Response;
use stratus_core::Error;
use stratus_iam::store::{AccessKey, Owner, PrincipalKind, User};

use super::roles::{tags, write_tags, MAX_TAGS};
use super::{constraint, name, path, required, Ctx, Page};
use crate::services::sns::form::Params;
use crate::services::sns::xml::Xml;

fn write_user_fields(x: &mut Xml, u: &User) {
    x.leaf("Path", &u.path)
        .leaf("UserName", &u.name)
        .leaf("UserId", &u.id)
        .leaf("Arn", &u.arn())
        .leaf("CreateDate", &u.created);
}

pub fn create_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let (user_name, user_path) = (name(p, "UserName", 64)?, path(p, "Path")?);
    let boundary = super::boundaries::requested(c, p)?;
    let tags = tags(p)?;
    let user = c.iam.create_user(user_name, user_path)?;
    if let Some(arn) = &boundary {
        c.iam.set_boundary(Owner::User, &user.name, Some(arn))?;
    }
    if !tags.is_empty() {
        c.iam.tag_user(&user.name, &tags, MAX_TAGS)?;
    }
    let tags = c.iam.user_tags(&user.name)?;
    Ok(c.ok(|x| {
        x.open("User");
        write_user_fields(x, &user);
        super::boundaries::write_boundary(x, boundary.as_deref());
        if !tags.is_empty() {
            write_tags(x, &tags);
        }
        x.close("User");
    }))
}

pub fn tag_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let user = name(p, "UserName", 64)?;
    let tags = tags(p)?;
    c.iam.tag_user(user, &tags, MAX_TAGS)?;
    Ok(c.empty())
}

pub fn untag_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let user = name(p, "UserName", 64)?;
    c.iam.untag_user(user, &p.members("TagKeys"))?;
    Ok(c.empty())
}

pub fn list_user_tags(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let tags = c.iam.user_tags(name(p, "UserName", 64)?)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        write_tags(x, page.slice(&tags));
        page.write_end(x, tags.len());
    }))
}

/// GetUser without a name describes the caller (root answers with the account's root user).
pub fn get_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let user = match p.get("UserName") {
        Some(_) => c.iam.user(name(p, "UserName", 64)?)?,
        None => match &c.caller.identity.principal {
            PrincipalKind::User(n) => c.iam.user(n)?,
            PrincipalKind::Root => User {
                name: String::new(),
                id: c.caller.identity.user_id.clone(),
                path: "/".into(),
                created: "2026-01-01T00:00:00Z".into(),
            },
            PrincipalKind::Role(..) => {
                return Err(Error::new(
                    "ValidationError",
                    stratus_core::Kind::InvalidInput,
                    "Must specify userName when calling with non-User credentials",
                ))
            }
        },
    };
    let (boundary, tags) = match user.name.is_empty() {
        true => (None, Vec::new()),
        false => (
            c.iam.boundary(Owner::User, &user.name)?,
            c.iam.user_tags(&user.name)?,
        ),
    };
    Ok(c.ok(|x| {
        x.open("User");
        if user.name.is_empty() {
            x.leaf("UserId", &user.id)
                .leaf("Arn", &c.caller.identity.arn)
                .leaf("CreateDate", &user.created);
        } else {
            write_user_fields(x, &user);
            super::boundaries::write_boundary(x, boundary.as_deref());
            if !tags.is_empty() {
                write_tags(x, &tags);
            }
        }
        x.close("User");
    }))
}

pub fn list_users(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let users = c.iam.list_users(p.get("PathPrefix").unwrap_or("/"))?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.open("Users");
        for u in page.slice(&users) {
            x.open("member");
            write_user_fields(x, u);
            x.close("member");
        }
        x.close("Users");
        page.write_end(x, users.len());
    }))
}

pub fn update_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let user = name(p, "UserName", 64)?;
    let new_name = match p.get("NewUserName") {
        Some(_) => Some(name(p, "NewUserName", 64)?),
        None => None,
    };
    let new_path = match p.get("NewPath") {
        Some(_) => Some(path(p, "NewPath")?),
        None => None,
    };
    c.iam.update_user(user, new_name, new_path)?;
    Ok(c.empty())
}

pub fn delete_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam.delete_user(name(p, "UserName", 64)?)?;
    Ok(c.empty())
}

/// The user a key operation is about: the named one, else the calling user.
fn key_user(c: &Ctx, p: &Params) -> Result<String, Error> {
    match p.get("UserName") {
        Some(_) => Ok(name(p, "UserName", 64)?.to_string()),
        None => match &c.caller.identity.principal {
            PrincipalKind::User(n) => Ok(n.clone()),
            _ => Err(Error::new(
                "ValidationError",
                stratus_core::Kind::InvalidInput,
                "Must specify userName when calling with non-User credentials",
            )),
        },
    }
}

fn write_key(x: &mut Xml, k: &AccessKey, secret: bool) {
    x.leaf("UserName", &k.user)
        .leaf("AccessKeyId", &k.id)
        .leaf("Status", &k.status);
    if secret {
        x.leaf("SecretAccessKey", &k.secret);
    }
    x.leaf("CreateDate", &k.created);
}

pub fn create_access_key(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let key = c.iam.create_access_key(&key_user(c, p)?)?;
    Ok(c.ok(|x| {
        x.open("AccessKey");
        write_key(x, &key, true);
        x.close("AccessKey");
    }))
}

pub fn list_access_keys(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let user = key_user(c, p)?;
    let keys = c.iam.list_access_keys(&user)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        x.leaf("UserName", &user).open("AccessKeyMetadata");
        for k in page.slice(&keys) {
            x.open("member");
            write_key(x, k, false);
            x.close("member");
        }
        x.close("AccessKeyMetadata");
        page.write_end(x, keys.len());
    }))
}

fn key_id(p: &Params) -> Result<&str, Error> {
    let id = required(p, "AccessKeyId")?;
    if id.len() < 16 || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(constraint(
            id,
            "accessKeyId",
            "Member must satisfy regular expression pattern: [\\w]+",
        ));
    }
    Ok(id)
}

pub fn update_access_key(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let id = key_id(p)?;
    let status = required(p, "Status")?;
    if !matches!(status, "Active" | "Inactive") {
        return Err(constraint(
            status,
            "status",
            "Member must satisfy enum value set: [Active, Inactive]",
        ));
    }
    c.iam.update_access_key(&key_user(c, p)?, id, status)?;
    Ok(c.empty())
}

pub fn delete_access_key(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let id = key_id(p)?;
    c.iam.delete_access_key(&key_user(c, p)?, id)?;
    Ok(c.empty())
}
