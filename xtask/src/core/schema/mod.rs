//! The one description of image.toml's keys. `cargo xtask docs` writes
//! docs/image-toml.md from it and `cargo xtask schema` writes the JSON Schema that
//! editors use (docs/image.schema.json); `--check` fails when either file is stale.
//! A unit test holds the description against `definitions::validate_image`, so a key
//! added to the parser but not here (or the reverse) fails the tests, naming the key.

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

/// Where the generated files live, relative to the workspace root.
pub const DOCS_FILE: &str = "docs/image-toml.md";
pub const SCHEMA_FILE: &str = "docs/image.schema.json";

mod keys;
mod test_keys;
pub use keys::{KEYS, TABLES};
pub use test_keys::TEST_KEYS;

/// Every key of image.toml, in the order the reference lists them.
pub fn keys() -> impl Iterator<Item = &'static Key> {
    KEYS.iter().chain(TEST_KEYS)
}

/// A table of image.toml: the top level (`""`), `[name]`, `[[name]]`, or `[name.<id>]`.
pub struct Table {
    /// Dotted path: `""`, `variants`, `tests.files`.
    pub path: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
    /// A table that may not stand beside another (`[matrix]` beside `[[variants]]`): the
    /// example document leaves it out, and the tests check it on its own.
    pub instead_of: Option<&'static str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[name]`.
    Table,
    /// `[[name]]`: any number of them.
    Array,
    /// `[name.<id>]`: tables under names the user picks; the example and tests use this id.
    Map(&'static str),
}

/// The value type of a key.
pub enum Ty {
    Str,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// `YYYY-MM-DD`, as a TOML date or a string.
    Date,
    Strs,
    /// A table of string values under names the user picks (build args, environment).
    Map,
    /// A table of string lists under names the user picks (a matrix's axes).
    MapOfStrs,
    /// An array of tables of strings (a matrix's `exclude`).
    Maps,
    /// One of the strings the function lists.
    OneOf(fn() -> Vec<&'static str>),
    /// A list of distinct strings, each one of those the function lists.
    ListOf(fn() -> Vec<&'static str>),
}

/// What a key means when it is absent.
pub enum Absent {
    /// No value: the feature is off.
    None,
    /// A TOML literal, also the JSON Schema `default`.
    Value(&'static str),
    /// Derived from elsewhere, as a sentence.
    Derived(&'static str),
}

pub struct Key {
    /// The `Table::path` it belongs to.
    pub table: &'static str,
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub default: Absent,
    /// A TOML value that is valid in the document made of every example (see `example_document`).
    pub example: &'static str,
    /// A key it excludes: it is left out of the example document and checked on its own.
    pub instead_of: Option<&'static str>,
    pub doc: &'static str,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Str => "string".to_string(),
            Ty::Bool => "boolean".to_string(),
            Ty::Int { min, max } => format!("integer, {min} to {max}"),
            Ty::Date => "date, `2027-01-31` (quoted or not)".to_string(),
            Ty::Strs => "array of strings".to_string(),
            Ty::Map => "table of strings".to_string(),
            Ty::MapOfStrs => "table of arrays of strings".to_string(),
            Ty::Maps => "array of tables of strings".to_string(),
            Ty::OneOf(values) => format!("one of {}", quoted(&values())),
            Ty::ListOf(values) => format!("array of {}", quoted(&values())),
        }
    }

    fn json(&self) -> Value {
        match self {
            Ty::Str => json!({ "type": "string" }),
            Ty::Bool => json!({ "type": "boolean" }),
            Ty::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
            // Editors hand TOML dates to JSON Schema as strings.
            Ty::Date => json!({ "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" }),
            Ty::Strs => json!({ "type": "array", "items": { "type": "string" } }),
            Ty::Map => json!({ "type": "object", "additionalProperties": { "type": "string" } }),
            Ty::MapOfStrs => json!({
                "type": "object",
                "additionalProperties": { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            }),
            Ty::Maps => json!({
                "type": "array",
                "items": { "type": "object", "additionalProperties": { "type": "string" } }
            }),
            Ty::OneOf(values) => json!({ "type": "string", "enum": values() }),
            Ty::ListOf(values) => {
                json!({ "type": "array", "items": { "type": "string", "enum": values() }, "uniqueItems": true })
            }
        }
    }
}

fn quoted(values: &[&str]) -> String {
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}

/// The keys of one table.
fn keys_of(table: &str) -> impl Iterator<Item = &'static Key> + '_ {
    keys().filter(move |k| k.table == table)
}

/// The tables directly inside `table`.
fn children_of(table: &str) -> impl Iterator<Item = &'static Table> + '_ {
    TABLES.iter().filter(move |t| !t.path.is_empty() && parent_path(t.path) == table)
}

fn parent_path(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(parent, _)| parent)
}

fn last_segment(path: &str) -> &str {
    path.rsplit_once('.').map_or(path, |(_, last)| last)
}

fn table_at(path: &str) -> &'static Table {
    TABLES.iter().find(|t| t.path == path).unwrap_or_else(|| panic!("no table {path:?} in TABLES"))
}

/// The dotted TOML path of `table`, naming each map entry on the way `<id>`, or with
/// `example` the map's example id.
fn dotted(table: &Table, example: bool) -> String {
    let own = last_segment(table.path);
    let own = match table.kind {
        Kind::Map(id) => format!("{own}.{}", if example { id } else { "<id>" }),
        Kind::Table | Kind::Array => own.to_string(),
    };
    match parent_path(table.path) {
        "" => own,
        parent => format!("{}.{own}", dotted(table_at(parent), example)),
    }
}

/// `[tests.metadata]`, `[[tests]]`, `[secrets.<id>]`, or "the top level"; with `example`,
/// the header the example document uses.
fn header(table: &Table, example: bool) -> String {
    match table.kind {
        _ if table.path.is_empty() => "the top level".to_string(),
        Kind::Array => format!("[[{}]]", dotted(table, example)),
        Kind::Table | Kind::Map(_) => format!("[{}]", dotted(table, example)),
    }
}

/// A TOML literal as JSON.
fn toml_literal(literal: &str) -> Result<Value> {
    let table: toml::Table = toml::from_str(&format!("v = {literal}")).with_context(|| format!("TOML {literal}"))?;
    serde_json::to_value(&table["v"]).context("converting a TOML value to JSON")
}

/// An image.toml that sets every key (but those `instead_of` another) to its example: shown in
/// the reference, and validated in the tests.
/// Whether `table` or a table it is in stands instead of another (and so is left out of the
/// example document).
fn alternative(table: &Table) -> bool {
    let mut path = table.path;
    loop {
        if table_at(path).instead_of.is_some() {
            return true;
        }
        if path.is_empty() {
            return false;
        }
        path = parent_path(path);
    }
}

pub fn example_document() -> String {
    let mut out = String::new();
    for table in TABLES.iter().filter(|t| !alternative(t)) {
        // A table with only tables inside (`[scan]`) needs no header of its own.
        let own = keys_of(table.path).any(|k| k.instead_of.is_none()) || children_of(table.path).next().is_none();
        if !table.path.is_empty() && own {
            out.push_str(&format!("\n{}\n", header(table, true)));
        }
        for key in keys_of(table.path).filter(|k| k.instead_of.is_none()) {
            out.push_str(&format!("{} = {}\n", key.name, key.example));
        }
    }
    out
}

/// docs/image-toml.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- Generated by `cargo xtask docs` from xtask/src/core/schema/keys.rs: edit that file, then run `cargo xtask docs`. -->\n\
         # `image.toml` reference\n\n\
         Each `images/<name>/image.toml` declares one image. Unknown keys and bad values are rejected with the \
         file, line, column and a hint. Editors with a TOML language server can validate and complete these files \
         with the JSON Schema in [`image.schema.json`](image.schema.json) (see README.md, \"Editor support\").\n\n\
         Every key at once (each value is valid, though no real image needs them all):\n\n```toml\n",
    );
    out.push_str(&example_document());
    out.push_str("```\n");
    for table in TABLES {
        let title = if table.path.is_empty() { "Top level".to_string() } else { format!("`{}`", header(table, false)) };
        out.push_str(&format!("\n## {title}\n\n{}\n", table.doc));
        let children: Vec<String> = children_of(table.path).map(|c| format!("`{}`", header(c, false))).collect();
        if !children.is_empty() {
            out.push_str(&format!("\nTables inside it: {}.\n", children.join(", ")));
        }
        if keys_of(table.path).next().is_some() {
            out.push_str("\n| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
        }
        for key in keys_of(table.path) {
            let default = match (&key.default, key.required) {
                (_, true) => "required".to_string(),
                (Absent::None, false) => "none".to_string(),
                (Absent::Value(literal), false) => format!("`{literal}`"),
                (Absent::Derived(text), false) => text.to_string(),
            };
            let meaning = match key.instead_of {
                Some(other) => format!("{} Not together with `{other}`.", key.doc),
                None => key.doc.to_string(),
            };
            let row = [format!("`{}`", key.name), key.ty.name(), default, meaning];
            out.push_str(&format!("| {} |\n", row.map(|cell| cell.replace('|', "\\|")).join(" | ")));
        }
    }
    out
}

/// The JSON Schema (draft 4, the newest taplo reads) of `table` and the tables inside it.
fn table_schema(table: &Table) -> Result<Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for key in keys_of(table.path) {
        let mut schema = key.ty.json();
        let mut description = key.doc.to_string();
        if let Some(other) = key.instead_of {
            description.push_str(&format!(" Not together with `{other}`."));
        }
        match &key.default {
            Absent::Value(literal) => {
                schema["default"] = toml_literal(literal)?;
            }
            Absent::Derived(text) => description.push_str(&format!(" Default: {text}.")),
            Absent::None => {}
        }
        schema["description"] = Value::String(description);
        properties.insert(key.name.to_string(), schema);
        if key.required {
            required.push(key.name);
        }
    }
    for child in children_of(table.path) {
        let inner = table_schema(child)?;
        let schema = match child.kind {
            Kind::Table => inner,
            Kind::Array => json!({ "type": "array", "description": child.doc, "items": inner }),
            Kind::Map(_) => json!({ "type": "object", "description": child.doc, "additionalProperties": inner }),
        };
        properties.insert(last_segment(child.path).to_string(), schema);
    }
    let mut schema =
        json!({ "type": "object", "description": table.doc, "properties": properties, "additionalProperties": false });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    Ok(schema)
}

/// docs/image.schema.json.
pub fn json_schema() -> Result<String> {
    let mut schema = table_schema(&TABLES[0])?;
    schema["$schema"] = json!("http://json-schema.org/draft-04/schema#");
    schema["title"] = json!("image.toml");
    let mut text = serde_json::to_string_pretty(&schema).context("serializing the JSON Schema")?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::keys::*;
    use super::*;
    use crate::core::definitions::{validate_image, validate_settings, DefinitionError};
    use camino::Utf8Path;
    use std::collections::BTreeSet;

    const PROBE: &str = "zz_not_a_key";

    fn validate(text: &str) -> Result<(), DefinitionError> {
        let settings = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap();
        validate_image(Utf8Path::new("images/orb/image.toml"), text, Utf8Path::new("images/orb"), &settings).map(|_| ())
    }

    /// The smallest document that opens `table` (its parents' headers and required keys included).
    fn skeleton(table: &Table) -> String {
        if table.path.is_empty() {
            return String::new();
        }
        let mut out = skeleton(table_at(parent_path(table.path)));
        out.push_str(&format!("{}\n", header(table, true)));
        for key in keys_of(table.path).filter(|k| k.required) {
            out.push_str(&format!("{} = {}\n", key.name, key.example));
        }
        out
    }

    /// The keys the parser accepts in `table`, read from the hint of its unknown-key error.
    fn parser_keys(table: &Table) -> Result<BTreeSet<String>, String> {
        let text = format!("{}{PROBE} = 1\n", skeleton(table));
        let err = match validate(&text) {
            Ok(()) => return Err(format!("{} accepted the unknown key `{PROBE}`", header(table, false))),
            Err(err) => err,
        };
        if err.message != format!("unknown key `{PROBE}`") {
            return Err(format!("probing {} gave another error: {err}\n--- document:\n{text}", header(table, false)));
        }
        let hint = err.hint.unwrap_or_default();
        let list = hint.rsplit_once(": ").map(|(_, list)| list).unwrap_or_default();
        Ok(list.split(", ").filter(|k| !k.is_empty()).map(str::to_string).collect())
    }

    #[test]
    fn every_key_the_parser_accepts_is_described_and_no_other() {
        let mut problems = Vec::new();
        for table in TABLES {
            let accepted = match parser_keys(table) {
                Ok(keys) => keys,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let described: BTreeSet<String> = keys_of(table.path)
                .map(|k| k.name.to_string())
                .chain(children_of(table.path).map(|t| last_segment(t.path).to_string()))
                .collect();
            for missing in accepted.difference(&described) {
                let full = if table.path.is_empty() { missing.clone() } else { format!("{}.{missing}", table.path) };
                problems.push(format!(
                    "`{full}`: definitions::validate_image accepts `{missing}` in {}, but xtask/src/core/schema/keys.rs does not \
                     describe it: add a Key {{ table: {:?}, name: {missing:?}, .. }} to KEYS or TEST_KEYS (or a Table {{ path: {full:?}, .. }} \
                     to TABLES if it is a table), then run `cargo xtask docs` and `cargo xtask schema`",
                    header(table, false),
                    table.path
                ));
            }
            for stale in described.difference(&accepted) {
                problems.push(format!(
                    "`{stale}` in {}: xtask/src/core/schema/keys.rs describes it, but definitions::validate_image rejects it \
                     (it accepts: {}): remove or rename it in keys.rs",
                    header(table, false),
                    accepted.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        assert!(problems.is_empty(), "image.toml schema drift:\n- {}", problems.join("\n- "));
    }

    #[test]
    fn the_example_document_is_a_valid_image() {
        let document = example_document();
        if let Err(err) = validate(&document) {
            panic!("the example of some key in xtask/src/core/schema/keys.rs is rejected: {err}\n--- document:\n{document}");
        }
        // Keys that exclude another are valid on their own.
        for key in keys().filter(|k| k.instead_of.is_some()) {
            let text = format!("{}{} = {}\n", skeleton(table_at(key.table)), key.name, key.example);
            if let Err(err) = validate(&text) {
                panic!("the example of `{}` is rejected: {err}\n--- document:\n{text}", key.name);
            }
        }
        // Tables that exclude another are valid on their own.
        for table in TABLES.iter().filter(|t| t.instead_of.is_some()) {
            let mut text = String::new();
            for part in
                TABLES.iter().filter(|t| t.path == table.path || t.path.starts_with(&format!("{}.", table.path)))
            {
                text.push_str(&format!("{}\n", header(part, true)));
                for key in keys_of(part.path) {
                    text.push_str(&format!("{} = {}\n", key.name, key.example));
                }
            }
            if let Err(err) = validate(&text) {
                panic!("the example of [{}] is rejected: {err}\n--- document:\n{text}", table.path);
            }
        }
        // Each key appears once, in its table.
        for key in keys() {
            assert!(
                TABLES.iter().any(|t| t.path == key.table),
                "key `{}` names the table {:?}, which is not in TABLES",
                key.name,
                key.table
            );
        }
    }

    #[test]
    fn every_listed_choice_is_accepted_and_networks_are_all_of_them() {
        for key in keys().filter(|k| table_at(k.table).kind == Kind::Table) {
            let values = match &key.ty {
                Ty::OneOf(values) => values().into_iter().map(|v| format!("{v:?}")).collect::<Vec<_>>(),
                Ty::ListOf(values) => values().into_iter().map(|v| format!("[{v:?}]")).collect(),
                _ => continue,
            };
            // The table as the example document has it, with this key set to each choice.
            let others: String = keys_of(key.table)
                .filter(|k| k.name != key.name && k.instead_of.is_none() && !k.required)
                .map(|k| format!("{} = {}\n", k.name, k.example))
                .collect();
            // A key whose choices must be a subset of the image's platforms gets them at the top.
            let subset = matches!(key.default, Absent::Derived(d) if d.contains("image's `platforms`"));
            for value in values {
                let top = if subset { format!("platforms = {value}\n") } else { String::new() };
                let text = format!("{top}{}{others}{} = {value}\n", skeleton(table_at(key.table)), key.name);
                assert!(validate(&text).is_ok(), "{text} is rejected: {:?}", validate(&text));
            }
        }
        // serde lists the variants it knows when it meets another.
        let err = validate("network = \"zz\"").unwrap_err();
        let known: Vec<&str> = err.message.split('`').skip(3).step_by(2).collect();
        assert_eq!(known, networks(), "{err}");
        let err = validate("[rootfs]\nsuite = \"bookworm\"\nvariant = \"zz\"").unwrap_err();
        let hint = err.hint.clone().unwrap_or_default();
        let known: Vec<&str> = hint.rsplit_once(": ").map_or(vec![], |(_, list)| list.split(", ").collect());
        assert_eq!(known, mmdebstrap_variants(), "{err}");
    }

    #[test]
    fn the_json_schema_mirrors_the_tables() {
        let schema: Value = serde_json::from_str(&json_schema().unwrap()).unwrap();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
        assert_eq!(schema["additionalProperties"], false);
        let files = &schema["properties"]["tests"]["items"]["properties"]["files"];
        assert_eq!(files["type"], "array");
        assert_eq!(files["items"]["required"], json!(["path"]));
        assert_eq!(files["items"]["properties"]["exists"]["default"], true);
        assert_eq!(schema["properties"]["tags"]["properties"]["pull_request"]["default"], json!(["pr-{pr}"]));
        assert_eq!(schema["properties"]["network"]["enum"], json!(["none", "host", "default"]));
        assert_eq!(schema["properties"]["lint"]["properties"]["allow"]["items"]["enum"][0], "root-user");
        let platforms = &schema["properties"]["platforms"];
        assert!(platforms["description"].as_str().unwrap().ends_with("Default: the workspace's `platforms`."));
        // Every key of every table is a property at its place.
        for key in keys() {
            let mut at = &schema;
            if !key.table.is_empty() {
                for segment in key.table.split('.') {
                    at = &at["properties"][segment];
                    if at["type"] == "array" {
                        at = &at["items"];
                    } else if at["additionalProperties"].is_object() {
                        at = &at["additionalProperties"];
                    }
                }
            }
            assert!(at["properties"][key.name].is_object(), "{}.{} is not in the schema", key.table, key.name);
        }
    }

    #[test]
    fn the_reference_documents_every_key_and_table() {
        let text = markdown();
        for table in &TABLES[1..] {
            let header = header(table, false);
            assert!(text.contains(&format!("\n## `{header}`\n")), "{header} has no section");
        }
        assert!(text.contains("| `stdout_regex` | string | none | A regex in regex-lite's syntax (the `regex` crate's, without Unicode classes such as `\\p{L}`)"));
        assert!(text.contains("| `exit_code` | integer, 0 to 255 | `0` | The command's exit status. |"));
        assert!(text.contains("| `name` | string | required |"));
        assert!(text.contains("\n[[tests.files]]\npath = \"/greeting\"\n"));
    }
}
