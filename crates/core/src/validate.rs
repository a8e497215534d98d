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

/// A hotline's name or its ticket number: 1 to 40 letters, digits, `-`, `_` or `/`.
pub fn hotline_ref(value: &str) -> Result<(), ValidationError> {
    let value = value.trim();
    let fits = (1..=40).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'));
    if fits {
        Ok(())
    } else {
        Err(ValidationError::new("format")
            .with_message(Cow::Borrowed("1 to 40 letters, digits, '-', '_' or '/'")))
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

/// Fields whose text may run over several lines (a description, a note, a reason): they
/// may hold newlines and tabs. Every other text is one line.
pub const MULTI_LINE_FIELDS: &[&str] = &[
    "description",
    "note",
    "reason",
    "comment",
    "capacity",
    "schedule",
];

/// Whether `field` (the last name of its path: `milestones[0].note` → `note`) is
/// multi-line text.
pub fn is_multi_line(field: &str) -> bool {
    let last = field.rsplit(['.', '[']).next().unwrap_or(field);
    MULTI_LINE_FIELDS.contains(&last)
}

/// The first character text may not hold, if any: control characters (C0, DEL, C1) and
/// the non-characters XML refuses — except newline, carriage return and tab in
/// multi-line text. A NUL breaks PostgreSQL, a U+000B breaks every XML answer it lands in.
pub fn forbidden_char(text: &str, multi_line: bool) -> Option<char> {
    text.chars().find(|&c| {
        let allowed_space = multi_line && matches!(c, '\n' | '\r' | '\t');
        (c.is_control() && !allowed_space) || matches!(c, '\u{fffe}' | '\u{ffff}')
    })
}

/// `forbidden_char` as a field error naming the field and the character.
pub fn clean_text(field: &str, text: &str) -> Result<(), FieldError> {
    match forbidden_char(text, is_multi_line(field)) {
        None => Ok(()),
        Some(c) => Err(FieldError::new(
            field,
            "control_character",
            format!(
                "must not contain the control character U+{:04X}{}",
                c as u32,
                if is_multi_line(field) {
                    ""
                } else {
                    " (one line of text)"
                }
            ),
        )),
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_multi_line_text_keeps_its_lines() {
        assert!(clean_text("title", "5号楼楼道灯").is_ok());
        assert!(clean_text("description", "第一行\r\n第二行\t缩进").is_ok());
        for (field, text) in [
            ("description", "a\u{0}b"),
            ("description", "a\u{b}b"),
            ("title", "两行\n标题"),
            ("q", "\u{7f}"),
            ("name", "\u{85}"),
            ("milestones[0].title", "\u{1b}[31m"),
        ] {
            let err = clean_text(field, text).unwrap_err();
            assert_eq!(err.field, field);
            assert_eq!(err.code, "control_character");
        }
        assert!(clean_text("milestones[0].note", "多\n行").is_ok());
    }
}

/// A `LIKE` pattern matching text that contains `q` as typed (`%`, `_` and `\\` taken
/// literally; use with `.escape('\\')`), or `None` for a blank `q`.
pub fn contains_pattern(q: Option<&str>) -> Option<String> {
    let q = q.map(str::trim).filter(|q| !q.is_empty())?;
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(format!("%{escaped}%"))
}
