use crate::{Invalid, Validate};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `position` is the line and column in the text, when the facts were
    /// read from text; `field` is empty when the parser cannot name one (the
    /// text ended before the next field's name).
    #[error("{origin}: {}{}{cause}", at(*.position), named(.field))]
    Syntax { origin: String, position: Option<(usize, usize)>, field: String, cause: String },
    /// Valid JSON whose value is not: `position` is where the field starts,
    /// when the facts were read from text.
    #[error("{origin}: {}{invalid}", at(*.position))]
    Invalid { origin: String, position: Option<(usize, usize)>, invalid: Invalid },
}

/// `value` validated; `text`, the JSON it was read from, places a fault.
fn finish<T: Validate>(origin: &str, value: T, text: Option<&str>) -> Result<T, FactsError> {
    value.validate().map_err(|invalid| FactsError::Invalid {
        origin: origin.to_string(),
        position: text.and_then(|t| crate::locate::locate(t, &invalid.field)),
        invalid,
    })?;
    Ok(value)
}

fn at(position: Option<(usize, usize)>) -> String {
    position.map(|(line, column)| format!("line {line}, column {column}: ")).unwrap_or_default()
}

fn named(field: &str) -> String {
    if field.is_empty() { String::new() } else { format!("field `{field}`: ") }
}

/// The field's path; `?` (serde's name for a field it could not read the
/// name of) is dropped, so an error inside `a` at an unnamed key names `a`.
/// The top level is no field: its errors name theirs (``missing field
/// `firmware` ``).
fn field_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    let p = p.strip_suffix(".?").unwrap_or(&p);
    match p {
        "." | "?" => String::new(),
        p => p.to_string(),
    }
}

/// Parse and validate facts from JSON text; `origin` names the source in errors.
pub fn from_json_str<T: DeserializeOwned + Validate>(origin: &str, text: &str) -> Result<T, FactsError> {
    // A byte-order mark, as some Windows editors write, is not JSON text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Facts are JSON objects: serde would also take a struct's fields from
    // an array, by position, with no name checked.
    let start = text.len() - text.trim_start().len();
    if !text[start..].starts_with('{') && !text[start..].is_empty() {
        let (line, column) = position(text, start);
        return Err(FactsError::Syntax {
            origin: origin.to_string(),
            position: Some((line, column)),
            field: String::new(),
            cause: "expected a JSON object `{…}`".into(),
        });
    }
    // The fast path parses without tracking where it is; only a document
    // that fails is parsed again to name the field.
    if let Ok(value) = serde_json::from_str::<T>(text) {
        return finish(origin, value, Some(text));
    }
    let syntax = |field: String, inner: serde_json::Error| {
        let (line, column) = (inner.line(), char_column(text, inner.line(), inner.column()));
        let cause = strip_position(&inner);
        let cause = integer_out_of_range(text, line, column, &cause).unwrap_or(cause);
        FactsError::Syntax { origin: origin.to_string(), position: Some(on_token(text, line, column)), field, cause }
    };
    let de = &mut serde_json::Deserializer::from_str(text);
    let value: T =
        serde_path_to_error::deserialize(&mut *de).map_err(|e| syntax(field_of(e.path()), e.into_inner()))?;
    // Text after the object (a second object, a stray line) is refused, as
    // the fast path refuses it.
    de.end().map_err(|e| syntax(String::new(), e))?;
    finish(origin, value, Some(text))
}

/// Parse and validate facts from an already parsed JSON value.
pub fn from_json_value<T: DeserializeOwned + Validate>(
    origin: &str,
    value: serde_json::Value,
) -> Result<T, FactsError> {
    if !value.is_object() {
        return Err(FactsError::Syntax {
            origin: origin.to_string(),
            position: None,
            field: String::new(),
            cause: "expected a JSON object `{…}`".into(),
        });
    }
    let value: T = serde_path_to_error::deserialize(value).map_err(|e| FactsError::Syntax {
        origin: origin.to_string(),
        position: None,
        field: field_of(e.path()),
        cause: strip_position(&e.into_inner()),
    })?;
    finish(origin, value, None)
}

/// Read, parse and validate a JSON file.
/// At most [`crate::MAX_FILE_BYTES`] are read: a larger file (or an endless
/// one, `/dev/zero`) is refused before it fills the memory.
pub fn from_json_file<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, FactsError> {
    use std::io::Read;
    let read = |source| FactsError::Read { path: path.to_path_buf(), source };
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(crate::MAX_FILE_BYTES + 1).read_to_end(&mut bytes)).map_err(read)?;
    if bytes.len() as u64 > crate::MAX_FILE_BYTES {
        let max = crate::MAX_FILE_BYTES;
        return Err(read(std::io::Error::other(format!("larger than the limit of {max} bytes for a facts file"))));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| read(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))?;
    from_json_str(&path.display().to_string(), &text)
}

/// serde_json reads an integer too large for 64 bits as a float, and the
/// error then says `invalid type: floating point …, expected u64`: said
/// instead as the integer written, out of range.
fn integer_out_of_range(text: &str, line: usize, column: usize, cause: &str) -> Option<String> {
    let expected = cause.strip_prefix("invalid type: floating point ")?.split_once(", expected ")?.1;
    // The number around the column the error points into.
    let chars: Vec<char> = text.lines().nth(line.checked_sub(1)?)?.chars().collect();
    let in_number =
        |i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    let at = [column.saturating_sub(1), column.saturating_sub(2), column].into_iter().find(|&i| in_number(i))?;
    let start = (0..=at).rev().take_while(|&i| in_number(i)).last()?;
    let end = (at..chars.len()).take_while(|&i| in_number(i)).last()?;
    let token: String = chars[start..=end].iter().collect();
    let digits = token.strip_prefix('-').unwrap_or(&token);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{token} is out of range: expected {expected}"))
}

/// The line and column (1-based) of byte `at` of `text`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// serde_json counts the column of an error in bytes; errors count it in
/// characters, as [`position`] and `locate` do (else an error after
/// non-ASCII text on its line points too far right). The column of the
/// character holding the byte at `column`; 0 stays 0 (before the line's first).
fn char_column(text: &str, line: usize, column: usize) -> usize {
    match text.split('\n').nth(line.wrapping_sub(1)) {
        Some(line) => line.char_indices().take_while(|&(i, _)| i < column).count(),
        None => column,
    }
}

/// serde_json places an error where it stopped reading, and it stops before
/// some faulty values: a value of the wrong type (`"power": []`) is placed
/// on the `:`, `[`, `,` or blank before it (column 0 when it starts its
/// line), an unknown field after the blank that follows its name (on the
/// next line, if a line ends there). Such a place is moved on to the next
/// token (the value); any other is kept.
fn on_token(text: &str, line: usize, column: usize) -> (usize, usize) {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let line_text = text[line_start..].split('\n').next().unwrap_or_default();
    // Just past the last character read.
    let read = line_start + line_text.chars().take(column).map(char::len_utf8).sum::<usize>();
    let stopped_before =
        column == 0 || text[..read].ends_with(|c: char| c.is_ascii_whitespace() || matches!(c, ':' | ',' | '['));
    match text[read..].find(|c: char| !c.is_ascii_whitespace() && c != ':') {
        Some(next) if stopped_before => position(text, read + next),
        _ => (line, column),
    }
}

/// The error's message without the " at line L column C" serde_json
/// appends when it has a position (the error carries them already); a
/// message without a position (read from a value) is kept whole, even if the
/// value it quotes says "at line".
fn strip_position(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match msg.strip_suffix(&suffix) {
        Some(cause) if e.line() != 0 => cause.to_string(),
        _ => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;

    fn example() -> serde_json::Value {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/device.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn text_errors_name_line_column_and_field() {
        let mut v = example();
        v["power"]["battery_percent"] = "full".into();
        let text = serde_json::to_string_pretty(&v).unwrap();
        let e = from_json_str::<Device>("d.json", &text).unwrap_err().to_string();
        assert!(e.starts_with("d.json: line "), "{e}");
        assert!(e.contains(", column ") && e.contains(": field `power.battery_percent`: invalid type"), "{e}");
    }

    #[test]
    fn only_one_object_is_a_document() {
        let text = serde_json::to_string_pretty(&example()).unwrap();
        // Something after the object: a stray line, a second object (whose
        // values would otherwise be ignored).
        for extra in ["this is not json", "{\"id\": \"other\"}"] {
            let e = from_json_str::<Device>("d.json", &format!("{text}\n{extra}\n")).unwrap_err().to_string();
            assert!(e.starts_with("d.json: line ") && e.ends_with("trailing characters"), "{e}");
        }
        // The fields of an array, by position.
        let values: Vec<serde_json::Value> = example().as_object().unwrap().values().cloned().collect();
        let array = serde_json::to_string(&values).unwrap();
        let e = from_json_str::<Device>("d.json", &format!("\n  {array}")).unwrap_err().to_string();
        assert_eq!(e, "d.json: line 2, column 3: expected a JSON object `{…}`");
        let e = from_json_value::<Device>("d", serde_json::Value::Array(values)).unwrap_err().to_string();
        assert_eq!(e, "d: expected a JSON object `{…}`");
    }

    #[test]
    fn a_nested_struct_is_read_from_an_object_only() {
        let mut v = example();
        v["hardware"] = serde_json::json!(["gw-4000", "B"]);
        let e = from_json_str::<Device>("d.json", &v.to_string()).unwrap_err().to_string();
        assert!(e.ends_with("field `hardware`: invalid type: sequence, expected a JSON object"), "{e}");
        let mut v = example();
        v["location"]["geo"] = serde_json::json!([48.1, 11.5]);
        let e = from_json_str::<Device>("d.json", &v.to_string()).unwrap_err().to_string();
        assert!(e.ends_with("field `location.geo`: invalid type: sequence, expected a JSON object"), "{e}");
        let e = from_json_value::<Device>("d", v).unwrap_err().to_string();
        assert!(e.ends_with("field `location.geo`: invalid type: sequence, expected a JSON object"), "{e}");
        // Objects, null and absence still read as before.
        let mut v = example();
        v["location"]["geo"] = serde_json::Value::Null;
        assert!(from_json_str::<Device>("d.json", &v.to_string()).unwrap().location.geo.is_none());
        v["location"].as_object_mut().unwrap().remove("geo");
        assert!(from_json_str::<Device>("d.json", &v.to_string()).unwrap().location.geo.is_none());
        let health = r#"{"since_boot_secs": 1, "boots_since_install": 1, "failed_services": [["svc", true]]}"#;
        let e = from_json_str::<crate::HealthReport>("h.json", health).unwrap_err().to_string();
        assert!(e.contains("field `failed_services[0]`: invalid type: sequence, expected a JSON object"), "{e}");
    }

    #[test]
    fn an_integer_beyond_64_bits_is_said_as_written() {
        let mut v = example();
        v["security_counter"] = serde_json::Value::from(0);
        let text = serde_json::to_string_pretty(&v)
            .unwrap()
            .replace("\"security_counter\": 0", "\"security_counter\": 18446744073709551616");
        let e = from_json_str::<Device>("d.json", &text).unwrap_err().to_string();
        assert!(e.ends_with("field `security_counter`: 18446744073709551616 is out of range: expected u64"), "{e}");
        // A float where an integer belongs is still a float.
        let text = text.replace("18446744073709551616", "1.5");
        let e = from_json_str::<Device>("d.json", &text).unwrap_err().to_string();
        assert!(e.contains("invalid type: floating point `1.5`, expected u64"), "{e}");
    }

    #[test]
    fn a_file_is_read_up_to_its_limit() {
        let dir = std::env::temp_dir().join(format!("rampart-facts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.json");
        std::fs::write(&big, vec![b' '; crate::MAX_FILE_BYTES as usize + 1]).unwrap();
        let e = from_json_file::<Device>(&big).unwrap_err().to_string();
        assert!(e.ends_with("cannot read: larger than the limit of 16777216 bytes for a facts file"), "{e}");
        let e = from_json_file::<Device>(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("larger than the limit"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn text_that_ends_early_names_no_unknown_field() {
        let e = from_json_str::<Device>("d.json", "{\"id\": \"gw-1\",\n").unwrap_err().to_string();
        assert_eq!(e, "d.json: line 2, column 0: EOF while parsing a value");
        let e =
            from_json_str::<Device>("d.json", "{\"id\": \"gw-1\", \"labels\": {\"a\": \"b\",").unwrap_err().to_string();
        assert_eq!(e, "d.json: line 1, column 35: field `labels`: EOF while parsing a value");
    }

    #[test]
    fn a_value_out_of_range_is_placed_by_line_and_column() {
        let text = include_str!("../../../examples/device.json")
            .replace("\"battery_percent\": 82", "\"battery_percent\": 150");
        let e = from_json_str::<Device>("d.json", &text).unwrap_err().to_string();
        assert_eq!(e, "d.json: line 12, column 33: field `power.battery_percent`: 150 is outside 0..=100");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let text = format!("\u{feff}{}", example());
        let d: Device = from_json_str("d.json", &text).unwrap();
        assert_eq!(d.id.as_str(), "gw-0042");
    }

    #[test]
    fn value_errors_name_the_field_without_a_position() {
        let mut v = example();
        v["power"]["battery_percent"] = "full".into();
        let e = from_json_value::<Device>("case `x`: device", v).unwrap_err().to_string();
        assert_eq!(e, "case `x`: device: field `power.battery_percent`: invalid type: string \"full\", expected u8");
    }
}
