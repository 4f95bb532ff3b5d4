//! `rampart policy schema`

use std::process::ExitCode;

/// Print the JSON Schema of an input file format.
#[derive(clap::Args)]
pub struct Args {
    /// Which format.
    #[arg(value_enum)]
    kind: Kind,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Kind {
    Device,
    Release,
    Rollout,
    Health,
    Cases,
}

/// The schema of `kind`, as pretty JSON.
pub fn schema(kind: Kind) -> String {
    let s = match kind {
        Kind::Device => schemars::schema_for!(rampart_facts::Device),
        Kind::Release => schemars::schema_for!(rampart_facts::Release),
        Kind::Rollout => schemars::schema_for!(rampart_facts::Rollout),
        Kind::Health => schemars::schema_for!(rampart_facts::HealthReport),
        Kind::Cases => schemars::schema_for!(super::test::CaseFile),
    };
    let mut v = s.to_value();
    bound_integers(&mut v);
    // Back to a schema, which prints its keywords in a readable order.
    let s = schemars::Schema::try_from(v).expect("still a schema");
    serde_json::to_string_pretty(&s).expect("schemas serialize")
}

/// Give every integer the bounds of its Rust type: schemars names them only
/// as a `format` (`uint32`, …), which validators ignore, so a schema would
/// accept what the reader refuses. Bounds already stated are kept.
fn bound_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(o) => {
            let bounds = match o.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((Value::from(0), Value::from(u8::MAX))),
                Some("uint16") => Some((Value::from(0), Value::from(u16::MAX))),
                Some("uint32") => Some((Value::from(0), Value::from(u32::MAX))),
                Some("uint64") => Some((Value::from(0), Value::from(u64::MAX))),
                Some("int32") => Some((Value::from(i32::MIN), Value::from(i32::MAX))),
                Some("int64") => Some((Value::from(i64::MIN), Value::from(i64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                o.entry("minimum").or_insert(min);
                o.entry("maximum").or_insert(max);
            }
            o.values_mut().for_each(bound_integers);
        }
        Value::Array(a) => a.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    println!("{}", schema(args.kind));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn all() -> Vec<Value> {
        [Kind::Device, Kind::Release, Kind::Rollout, Kind::Health, Kind::Cases]
            .into_iter()
            .map(|k| serde_json::from_str(&schema(k)).unwrap())
            .collect()
    }

    /// Every node of `v` for which `f` holds.
    fn nodes<'a>(v: &'a Value, f: &dyn Fn(&Value) -> bool, out: &mut Vec<&'a Value>) {
        if f(v) {
            out.push(v);
        }
        match v {
            Value::Object(o) => o.values().for_each(|c| nodes(c, f, out)),
            Value::Array(a) => a.iter().for_each(|c| nodes(c, f, out)),
            _ => {}
        }
    }

    #[test]
    fn every_integer_is_bounded_as_its_reader_bounds_it() {
        let integer = |v: &Value| match v.get("type") {
            Some(Value::String(t)) => t == "integer",
            Some(Value::Array(ts)) => ts.contains(&Value::from("integer")),
            _ => false,
        };
        let schemas = all();
        let mut ints = Vec::new();
        schemas.iter().for_each(|s| nodes(s, &integer, &mut ints));
        assert!(ints.len() > 15, "{}", ints.len());
        for i in ints {
            assert!(i.get("minimum").is_some() && i.get("maximum").is_some(), "{i}");
        }
    }

    #[test]
    fn the_version_pattern_accepts_what_the_reader_accepts() {
        let device: Value = serde_json::from_str(&schema(Kind::Device)).unwrap();
        let mut versions = Vec::new();
        nodes(&device, &|v| v.get("pattern").is_some() && v.to_string().contains("Semantic version"), &mut versions);
        let pattern = regex::Regex::new(versions[0]["pattern"].as_str().unwrap()).unwrap();
        for v in [
            "4.2.0",
            "5.0.0-rc.1",
            "1.0.0-alpha.beta-2.0",
            "0.0.0",
            "4.1",
            "v4.2.0",
            "4.1.0+build5",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-",
            "1.2.3-a..b",
            " 1.2.3",
        ] {
            let read = rampart_facts::Version::parse(v).is_ok();
            assert_eq!(pattern.is_match(v), read, "{v:?}: the reader says {read}");
        }
    }

    #[test]
    fn a_case_expects_a_decision_by_name() {
        let cases: Value = serde_json::from_str(&schema(Kind::Cases)).unwrap();
        let mut found = Vec::new();
        nodes(&cases, &|v| v.get("enum").is_some_and(|e| e.to_string().contains("rollback")), &mut found);
        assert_eq!(found[0]["enum"].as_array().map(Vec::len), Some(9), "{}", found[0]);
    }
}
