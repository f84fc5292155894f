//! Topic operations and tags.

use axum::response::Response;
use stratus_core::Error;
use stratus_topics::attributes::{add_statement, remove_statement, topic_view};
use stratus_topics::names::{invalid, topic_arn, topic_not_found, validate_topic_name};

use super::form::Params;
use super::{after_token, check_topic_arn, next_token, xml, Ctx};

/// Topics per ListTopics page.
const PAGE: usize = 100;

/// The `TopicArn` parameter, checked for shape.
pub fn topic_param<'p>(c: &Ctx, p: &'p Params, name: &str) -> Result<&'p str, Error> {
    let arn = p.required(name)?;
    check_topic_arn(c, arn, name)?;
    Ok(arn)
}

pub fn create_topic(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let name = p.required("Name")?;
    let attrs = p.map("Attributes");
    let fifo = attrs
        .get("FifoTopic")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if name.ends_with(".fifo") && !fifo {
        return Err(invalid(
            "Topic Name Reason: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
        ));
    }
    validate_topic_name(name, fifo)?;
    let arn = topic_arn(c.region, name);
    c.topics().create_topic(&arn, &attrs, &p.tags("Tags")?)?;
    Ok(xml::ok("CreateTopic", &c.request_id, |x| {
        x.leaf("TopicArn", &arn);
    }))
}

pub fn delete_topic(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = topic_param(c, p, "TopicArn")?;
    c.topics().delete_topic(arn)?;
    Ok(xml::empty("DeleteTopic", &c.request_id))
}

pub fn list_topics(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let prefix = topic_arn(c.region, "");
    let after = after_token(p)?;
    let mut arns = c.topics().list_topics(&prefix, &after, PAGE + 1)?;
    let more = arns.len() > PAGE;
    arns.truncate(PAGE);
    Ok(xml::ok("ListTopics", &c.request_id, |x| {
        x.open("Topics");
        for arn in &arns {
            x.open("member").leaf("TopicArn", arn).close("member");
        }
        x.close("Topics");
        if let (true, Some(last)) = (more, arns.last()) {
            x.leaf("NextToken", &next_token(last));
        }
    }))
}

pub fn get_topic_attributes(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = topic_param(c, p, "TopicArn")?;
    let topic = c.topics().topic(arn)?.ok_or_else(topic_not_found)?;
    let view = topic_view(arn, &topic.attrs, topic.subscriptions);
    Ok(xml::ok("GetTopicAttributes", &c.request_id, |x| {
        x.entries("Attributes", &view);
    }))
}

pub fn set_topic_attributes(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = topic_param(c, p, "TopicArn")?;
    let name = p.required("AttributeName")?;
    let value = p.get("AttributeValue").unwrap_or("");
    c.topics().set_topic_attribute(arn, name, value)?;
    Ok(xml::empty("SetTopicAttributes", &c.request_id))
}

pub fn add_permission(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = topic_param(c, p, "TopicArn")?;
    let label = p.required("Label")?;
    let accounts = p.members("AWSAccountId");
    let actions = p.members("ActionName");
    if accounts.is_empty() || actions.is_empty() {
        return Err(invalid("AWSAccountId and ActionName must not be empty"));
    }
    c.topics().update_policy(arn, |policy| {
        add_statement(policy, arn, label, &accounts, &actions)
    })?;
    Ok(xml::empty("AddPermission", &c.request_id))
}

pub fn remove_permission(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = topic_param(c, p, "TopicArn")?;
    let label = p.required("Label")?;
    c.topics().update_policy(arn, |policy| {
        remove_statement(policy, label);
        Ok(())
    })?;
    Ok(xml::empty("RemovePermission", &c.request_id))
}

fn resource_param<'p>(c: &Ctx, p: &'p Params) -> Result<&'p str, Error> {
    topic_param(c, p, "ResourceArn")
}

pub fn tag_resource(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = resource_param(c, p)?;
    c.topics().tag(arn, &p.tags("Tags")?)?;
    Ok(xml::ok("TagResource", &c.request_id, |_| {}))
}

pub fn untag_resource(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = resource_param(c, p)?;
    c.topics().untag(arn, &p.members("TagKeys"))?;
    Ok(xml::ok("UntagResource", &c.request_id, |_| {}))
}

pub fn list_tags_for_resource(c: &Ctx, p: &Params) -> Result<Response, Error> {
    let arn = resource_param(c, p)?;
    let tags = c.topics().tags(arn)?;
    Ok(xml::ok("ListTagsForResource", &c.request_id, |x| {
        x.open("Tags");
        for (k, v) in &tags {
            x.open("member")
                .leaf("Key", k)
                .leaf("Value", v)
                .close("member");
        }
        x.close("Tags");
    }))
}
