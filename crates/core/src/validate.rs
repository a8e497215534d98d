//! Field checks on every input, whoever calls the core (API, CLI, demo loader): the
//! `validator` derives on the input types, flattened into `FieldError`s that name each
//! field as the caller spelled it (`sla.urgent.resolve_minutes`, `communities[2]`).

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::error::FieldError;

/// Runs the type's `validator` rules.
pub fn fields<T: Validate>(input: &T) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Err(errors) = input.validate() {
        flatten("", &errors, &mut out);
    }
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn flatten(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        // A struct-level rule (`__all__`) is named by the struct's own path.
        let path = if prefix.is_empty() {
            field.to_string()
        } else if field == "__all__" {
            prefix.to_owned()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError::new(path.clone(), &e.code, describe(e)));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

fn describe(e: &ValidationError) -> String {
    if let Some(message) = &e.message {
        return message.to_string();
    }
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters"),
            (None, Some(max)) => format!("at most {max} characters"),
            (Some(min), None) => format!("at least {min} characters"),
            _ => "wrong length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            _ => "out of range".into(),
        },
        "email" => "not an email address".into(),
        other => other.replace('_', " "),
    }
}

/// Text that is not only white space.
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        Err(ValidationError::new("required").with_message(Cow::Borrowed("must not be blank")))
    } else {
        Ok(())
    }
}

/// A list of email addresses; the first bad one is named in the message.
pub fn emails(values: &[String]) -> Result<(), ValidationError> {
    use validator::ValidateEmail;
    match values.iter().position(|v| !v.trim().validate_email()) {
        None => Ok(()),
        Some(i) => Err(
            ValidationError::new("email").with_message(Cow::Owned(format!(
                "item {i} ({:?}) is not an email address",
                values[i]
            ))),
        ),
    }
}

/// For PATCH bodies: an absent field is `None`, an explicit `null` is `Some(None)`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Validate)]
    struct Inner {
        #[validate(range(min = 1, max = 5))]
        n: i32,
    }

    #[derive(Validate)]
    struct Outer {
        #[validate(custom(function = "not_blank"), length(max = 3))]
        name: String,
        #[validate(nested)]
        inner: Inner,
        #[validate(email)]
        mail: String,
    }

    #[test]
    fn nested_errors_are_named_by_their_path() {
        let errors = fields(&Outer {
            name: "  ".into(),
            inner: Inner { n: 9 },
            mail: "nope".into(),
        });
        let named: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("inner.n", "range"),
                ("mail", "email"),
                ("name", "required")
            ]
        );
        assert_eq!(errors[0].message, "must be between 1 and 5");
    }
}
