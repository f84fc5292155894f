//! Groups and their members.

use axum::response::Response;
use stratus_core::Error;
use stratus_iam::store::Group;

use super::{name, path, Ctx, Page};
use crate::services::sns::form::Params;
use crate::services::sns::xml::Xml;

fn write_group(x: &mut Xml, tag: &str, g: &Group) {
    x.open(tag)
        .leaf("Path", &g.path)
        .leaf("GroupName", &g.name)
        .leaf("GroupId", &g.id)
        .leaf("Arn", &g.arn())
        .leaf("CreateDate", &g.created)
        .close(tag);
}

fn write_groups(x: &mut Xml, groups: &[Group], page: &Page) {
    x.open("Groups");
    for g in page.slice(groups) {
        write_group(x, "member", g);
    }
    x.close("Groups");
    page.write_end(x, groups.len());
}

pub fn create_group(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let group = c
        .iam
        .create_group(name(p, "GroupName", 128)?, path(p, "Path")?)?;
    Ok(c.ok(|x| write_group(x, "Group", &group)))
}

pub fn get_group(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let group = c.iam.group(name(p, "GroupName", 128)?)?;
    let users = c.iam.group_users(&group.name)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        write_group(x, "Group", &group);
        x.open("Users");
        for u in page.slice(&users) {
            x.open("member")
                .leaf("Path", &u.path)
                .leaf("UserName", &u.name)
                .leaf("UserId", &u.id)
                .leaf("Arn", &u.arn())
                .leaf("CreateDate", &u.created)
                .close("member");
        }
        x.close("Users");
        page.write_end(x, users.len());
    }))
}

pub fn list_groups(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let groups = c.iam.list_groups(p.get("PathPrefix").unwrap_or("/"))?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| write_groups(x, &groups, &page)))
}

pub fn delete_group(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam.delete_group(name(p, "GroupName", 128)?)?;
    Ok(c.empty())
}

pub fn add_user_to_group(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam
        .add_user_to_group(name(p, "GroupName", 128)?, name(p, "UserName", 64)?)?;
    Ok(c.empty())
}

pub fn remove_user_from_group(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam
        .remove_user_from_group(name(p, "GroupName", 128)?, name(p, "UserName", 64)?)?;
    Ok(c.empty())
}

pub fn list_groups_for_user(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let user = c.iam.user(name(p, "UserName", 64)?)?;
    let groups = c.iam.groups_for_user(&user.name)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| write_groups(x, &groups, &page)))
}
