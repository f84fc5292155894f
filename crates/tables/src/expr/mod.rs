//! DynamoDB's expression language: ConditionExpression, FilterExpression,
//! KeyConditionExpression, UpdateExpression and ProjectionExpression.
//!
//! - [`lex`]: tokens (winnow).
//! - [`parse`]: the grammar and placeholder substitution, with AWS's error messages.
//! - [`ast`]: the parsed forms.
//! - [`eval`]: conditions and projections against an item.
//! - [`update`]: applying update actions.
//! - [`reserved`]: the words a bare attribute name may not be.

pub mod ast;
pub mod eval;
pub mod lex;
pub mod parse;
pub mod reserved;
pub mod update;

pub use ast::{Action, Cond, Path};
pub use parse::Placeholders;
