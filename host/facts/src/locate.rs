//! Where a field is in a JSON text, for errors found after parsing (a value
//! out of range is valid JSON: serde has no position to give).

/// The line and column (both 1-based) where the value at `path` starts in
/// the valid JSON `text`. `path` is as in [`Invalid`](crate::Invalid):
/// members joined by `.`, list items as `[i]` (`waves[1].wave`). `None` if
/// the text has no such value.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    enum Frame {
        Object { prefix: String, key: Option<String> },
        Array { prefix: String, index: usize },
    }
    let bytes = text.as_bytes();
    let (mut line, mut line_start) = (1, 0);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    // Where the string starting at `i` (a `"`) ends, just past its quote.
    let string_end = |mut j: usize| {
        j += 1;
        while j < bytes.len() && bytes[j] != b'"' {
            j += if bytes[j] == b'\\' { 2 } else { 1 };
        }
        (j + 1).min(bytes.len())
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b':' => {
                i += 1;
                continue;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Array { index, .. }) => *index += 1,
                    Some(Frame::Object { key, .. }) => *key = None,
                    None => {}
                }
                i += 1;
                continue;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
                continue;
            }
            _ => {}
        }
        // A member's name.
        if let Some(Frame::Object { key: key @ None, .. }) = stack.last_mut() {
            let end = string_end(i);
            *key = Some(serde_json::from_str(text.get(i..end)?).ok()?);
            i = end;
            continue;
        }
        // A value starts here.
        let here = match stack.last() {
            None => String::new(),
            Some(Frame::Object { prefix, key }) => {
                let key = key.as_deref().unwrap_or_default();
                if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
            }
            Some(Frame::Array { prefix, index }) => format!("{prefix}[{index}]"),
        };
        if here == path {
            return Some((line, text[line_start..i].chars().count() + 1));
        }
        match b {
            b'{' => stack.push(Frame::Object { prefix: here, key: None }),
            b'[' => stack.push(Frame::Array { prefix: here, index: 0 }),
            b'"' => {
                i = string_end(i);
                continue;
            }
            _ => {
                // A number, `true`, `false` or `null`.
                while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                continue;
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn fields_are_found_by_their_path() {
        let text = "{\n  \"id\": \"a\",\n  \"power\": { \"battery_percent\": 150 },\n  \"waves\": [\n    {\"wave\": 0},\n    {\"wave\": 0}\n  ],\n  \"labels\": {\"a.b\": \"\\\"x\\\"\", \"é\": [1, 2]}\n}";
        assert_eq!(locate(text, "id"), Some((2, 9)));
        assert_eq!(locate(text, "power.battery_percent"), Some((3, 33)));
        assert_eq!(locate(text, "waves[1].wave"), Some((6, 14)));
        assert_eq!(locate(text, "waves[1]"), Some((6, 5)));
        assert_eq!(locate(text, "labels.a.b"), Some((8, 21)));
        assert_eq!(locate(text, "labels.é[1]"), Some((8, 39)));
        assert_eq!(locate(text, ""), Some((1, 1)));
        assert_eq!(locate(text, "power.voltage"), None);
        assert_eq!(locate(text, "waves[2]"), None);
    }
}
