//! Instance profiles: create, describe, list, delete; the one role each may hold; tags.

use axum::response::Response;
use stratus_core::Error;
use stratus_iam::store::{InstanceProfile, Role};

use super::roles::{tags, write_role, write_tags, MAX_TAGS};
use super::{name, path, Ctx, Page};
use crate::services::sns::form::Params;
use crate::services::sns::xml::Xml;

fn profile_name(p: &Params) -> Result<&str, Error> {
    name(p, "InstanceProfileName", 128)
}

/// A profile and the role it holds, read before the answer is written.
type Described = (InstanceProfile, Option<Role>);

fn describe(c: &Ctx, ip: InstanceProfile) -> Result<Described, Error> {
    let role = match &ip.role {
        Some(r) => Some(c.iam.role(r)?),
        None => None,
    };
    Ok((ip, role))
}

/// One profile as IAM describes it, with the role it holds in `Roles`.
fn write_profile(x: &mut Xml, tag: &str, (ip, role): &Described) {
    x.open(tag)
        .leaf("Path", &ip.path)
        .leaf("InstanceProfileName", &ip.name)
        .leaf("InstanceProfileId", &ip.id)
        .leaf("Arn", &ip.arn())
        .leaf("CreateDate", &ip.created)
        .open("Roles");
    if let Some(r) = role {
        write_role(x, "member", r, None);
    }
    x.close("Roles");
    if !ip.tags.is_empty() {
        write_tags(x, &ip.tags);
    }
    x.close(tag);
}

/// A list of profiles (`InstanceProfiles`), one page of it.
fn write_list(c: &Ctx, p: &Params, profiles: Vec<InstanceProfile>) -> Result<Response, Error> {
    let page = Page::of(p)?;
    let total = profiles.len();
    let shown = page
        .slice(&profiles)
        .iter()
        .map(|ip| describe(c, ip.clone()))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(c.ok(|x| {
        x.open("InstanceProfiles");
        for d in &shown {
            write_profile(x, "member", d);
        }
        x.close("InstanceProfiles");
        page.write_end(x, total);
    }))
}

pub fn create_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let (n, at) = (profile_name(p)?, path(p, "Path")?);
    let tags = tags(p)?;
    let d = describe(c, c.iam.create_instance_profile(n, at, &tags)?)?;
    Ok(c.ok(|x| write_profile(x, "InstanceProfile", &d)))
}

pub fn get_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let d = describe(c, c.iam.instance_profile(profile_name(p)?)?)?;
    Ok(c.ok(|x| write_profile(x, "InstanceProfile", &d)))
}

pub fn list_instance_profiles(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let all = c
        .iam
        .list_instance_profiles(p.get("PathPrefix").unwrap_or("/"), None)?;
    write_list(c, p, all)
}

pub fn list_instance_profiles_for_role(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let role = name(p, "RoleName", 64)?;
    let all = c.iam.list_instance_profiles("/", Some(role))?;
    write_list(c, p, all)
}

pub fn delete_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    c.iam.delete_instance_profile(profile_name(p)?)?;
    Ok(c.empty())
}

pub fn add_role_to_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let profile = profile_name(p)?;
    let role = name(p, "RoleName", 64)?;
    c.iam.add_role_to_instance_profile(profile, role)?;
    Ok(c.empty())
}

pub fn remove_role_from_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let profile = profile_name(p)?;
    let role = name(p, "RoleName", 64)?;
    c.iam.remove_role_from_instance_profile(profile, role)?;
    Ok(c.empty())
}

pub fn tag_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let profile = profile_name(p)?;
    let tags = tags(p)?;
    c.iam.tag_instance_profile(profile, &tags, MAX_TAGS)?;
    Ok(c.empty())
}

pub fn untag_instance_profile(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let profile = profile_name(p)?;
    c.iam
        .untag_instance_profile(profile, &p.members("TagKeys"))?;
    Ok(c.empty())
}

pub fn list_instance_profile_tags(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let ip = c.iam.instance_profile(profile_name(p)?)?;
    let page = Page::of(p)?;
    Ok(c.ok(|x| {
        write_tags(x, page.slice(&ip.tags));
        page.write_end(x, ip.tags.len());
    }))
}
