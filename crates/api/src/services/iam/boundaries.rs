//! Permissions boundaries of users and roles: Put/Delete{User,Role}PermissionsBoundary,
//! `PermissionsBoundary` on CreateUser/CreateRole, and the element GetUser/GetRole show.

use axum::response::Response;
use stratus_core::Error;
use stratus_iam::store::Owner;

use super::{name, required, Ctx};
use crate::services::sns::form::Params;
use crate::services::sns::xml::Xml;

/// The `PermissionsBoundary` element of a user or role that has one.
pub fn write_boundary(x: &mut Xml, arn: Option<&str>) {
    if let Some(arn) = arn {
        x.open("PermissionsBoundary")
            .leaf("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .leaf("PermissionsBoundaryArn", arn)
            .close("PermissionsBoundary");
    }
}

/// CreateUser's and CreateRole's optional `PermissionsBoundary`, checked before anything is
/// created (a bad ARN leaves no user or role behind).
pub fn requested(c: &Ctx, p: &Params) -> Result<Option<String>, Error> {
    match p.get("PermissionsBoundary") {
        Some(arn) => {
            c.iam.boundary_policy_exists(arn)?;
            Ok(Some(arn.to_string()))
        }
        None => Ok(None),
    }
}

pub fn put_user_permissions_boundary(c: &Ctx, p: &Params) -> Result<Response, Error> {
    put(c, p, Owner::User, "UserName")
}

pub fn delete_user_permissions_boundary(c: &Ctx, p: &Params) -> Result<Response, Error> {
    delete(c, p, Owner::User, "UserName")
}

pub fn put_role_permissions_boundary(c: &Ctx, p: &Params) -> Result<Response, Error> {
    put(c, p, Owner::Role, "RoleName")
}

pub fn delete_role_permissions_boundary(c: &Ctx, p: &Params) -> Result<Response, Error> {
    delete(c, p, Owner::Role, "RoleName")
}

fn put(c: &Ctx, p: &Params, owner: Owner, param: &str) -> Result<Response, Error> {
    let who = name(p, param, 64)?;
    let arn = required(p, "PermissionsBoundary")?;
    c.iam.set_boundary(owner, who, Some(arn))?;
    Ok(c.empty())
}

fn delete(c: &Ctx, p: &Params, owner: Owner, param: &str) -> Result<Response, Error> {
    c.iam.set_boundary(owner, name(p, param, 64)?, None)?;
    Ok(c.empty())
}
