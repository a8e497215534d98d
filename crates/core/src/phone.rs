//! Chinese phone numbers, parsed once and kept in one normalised form: a mobile number as
//! its 11 digits (`13900001111`), a landline as area code and number (`010-12345678`),
//! with an extension after a dash (`010-12345678-801`). `+86`/`0086` prefixes, spaces,
//! dashes and brackets are accepted on the way in; anything else is refused.

use std::borrow::Cow;

use validator::ValidationError;

/// A phone number in its normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Reads a mobile number or a landline with its area code (and an extension).
    pub fn parse(text: &str) -> Result<Phone, &'static str> {
        const WHAT: &str = "a Chinese mobile number (11 digits, 1[3-9]…) or a landline with \
                            its area code (010-12345678, optionally -extension)";
        let text = text.trim();
        // An extension: "转123", "ext 123", "x123" or a last "-123" after a full number.
        let (main, extension) = split_extension(text);
        let digits: String = main
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '（' | '）'))
            .collect();
        if !digits.chars().all(|c| c.is_ascii_digit() || c == '+') {
            return Err(WHAT);
        }
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("0086"))
            .unwrap_or(&digits);
        if digits.contains('+') {
            return Err(WHAT);
        }
        let digits = match digits.strip_prefix("86") {
            Some(rest) if rest.len() == 11 && rest.starts_with('1') => rest,
            _ => digits,
        };
        let mobile = digits.len() == 11
            && digits.starts_with('1')
            && matches!(digits.as_bytes()[1], b'3'..=b'9');
        if mobile {
            return match extension {
                None => Ok(Phone(digits.to_owned())),
                Some(_) => Err(WHAT),
            };
        }
        let landline = landline(digits).ok_or(WHAT)?;
        match extension {
            None => Ok(Phone(landline)),
            Some(ext)
                if (1..=6).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_digit()) =>
            {
                Ok(Phone(format!("{landline}-{ext}")))
            }
            Some(_) => Err(WHAT),
        }
    }

    /// The number as shown to someone who may not see it whole: `139****1111`.
    pub fn masked(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() <= 7 {
            return "****".into();
        }
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    }
}

fn split_extension(text: &str) -> (&str, Option<&str>) {
    for marker in ["转", "ext.", "ext", "x", "X"] {
        if let Some((main, ext)) = text.split_once(marker) {
            return (main, Some(ext.trim()));
        }
    }
    // "010-12345678-801": a third group after a complete landline.
    let groups: Vec<&str> = text.split('-').map(str::trim).collect();
    if groups.len() == 3 && groups[0].starts_with('0') {
        if let Some(cut) = text.rfind('-') {
            return (&text[..cut], Some(text[cut + 1..].trim()));
        }
    }
    (text, None)
}

/// `0` + a 2- or 3-digit area code (010, 021, 0755, 0371…) and a 7- or 8-digit number.
fn landline(digits: &str) -> Option<String> {
    if !digits.starts_with('0') || digits.starts_with("00") {
        return None;
    }
    // Two-digit area codes (after the 0) are 10 and 20–29; the others have three.
    let area_len = if digits.starts_with("010") || digits.starts_with("02") {
        3
    } else {
        4
    };
    let (area, number) = digits.split_at(area_len.min(digits.len()));
    if area.len() == area_len && (7..=8).contains(&number.len()) && !number.starts_with('0') {
        Some(format!("{area}-{number}"))
    } else {
        None
    }
}

/// `validator`'s check for a phone field.
pub fn check(value: &str) -> Result<(), ValidationError> {
    Phone::parse(value)
        .map(|_| ())
        .map_err(|why| ValidationError::new("phone").with_message(Cow::Borrowed(why)))
}

/// The normalised form of an optional phone, blank as none (after `check` passed).
pub fn normalised(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(|v| {
        Phone::parse(v)
            .map(Phone::into_string)
            .unwrap_or_else(|_| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_and_landlines_are_kept_in_one_form() {
        for (given, kept) in [
            ("13900001111", "13900001111"),
            ("139 0000 1111", "13900001111"),
            ("+86 139-0000-1111", "13900001111"),
            ("008613900001111", "13900001111"),
            ("8613900001111", "13900001111"),
            ("010-12345678", "010-12345678"),
            ("(010) 1234 5678", "010-12345678"),
            ("01012345678", "010-12345678"),
            ("0755-87654321", "0755-87654321"),
            ("0371-6543210", "0371-6543210"),
            ("010-12345678-801", "010-12345678-801"),
            ("010-12345678转801", "010-12345678-801"),
            ("021 6666 8888 ext 12", "021-66668888-12"),
        ] {
            assert_eq!(
                Phone::parse(given).map(Phone::into_string),
                Ok(kept.into()),
                "{given}"
            );
        }
    }

    #[test]
    fn service_numbers_and_shapes_that_are_no_phone_are_refused() {
        for bad in [
            "12345",
            "110",
            "1390000111",
            "12900001111",
            "139000011112",
            "010-123",
            "010-012345678",
            "13900001111转8",
            "+1 415 555 0100",
            "phone me",
            "00-12345678",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masking_keeps_the_first_three_and_last_four() {
        assert_eq!(Phone::masked("13900001111"), "139****1111");
        assert_eq!(Phone::masked("010-12345678"), "010****5678");
        assert_eq!(Phone::masked("123"), "****");
    }
}
