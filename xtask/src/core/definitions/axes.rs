//! `[matrix]`: variants generated from axes, instead of writing each one in `[[variants]]`.
//! Every combination of the axes' values is a variant (less those `exclude` names), its
//! values become build args, and its name, Dockerfile, aliases and repository come from
//! templates over the axes. The result goes through the same checks as `[[variants]]`.
//!
//! ```toml
//! [matrix]
//! axes = { NODE = ["20", "22"], FLAVOUR = ["slim", "full"] }
//! name = "node{NODE}-{FLAVOUR}"
//! default = "node22-slim"
//! exclude = [{ NODE = "20", FLAVOUR = "full" }]
//! ```

use super::*;

/// More combinations than this is a mistake, not a matrix.
const MAX_COMBINATIONS: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatrix {
    axes: Spanned<RawAxes>,
    name: Spanned<String>,
    default: Spanned<String>,
    #[serde(default)]
    exclude: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    dockerfile: Option<Spanned<String>>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    repository: Option<Spanned<String>>,
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    /// Narrower platforms for the combinations with some values (a Chrome flavour for amd64).
    #[serde(default)]
    platforms_for: Vec<Spanned<RawPlatformsFor>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlatformsFor {
    /// Axis values the combinations must have.
    when: BTreeMap<String, String>,
    platforms: Spanned<Vec<Spanned<String>>>,
}

/// One value per axis.
type Combination = BTreeMap<String, String>;

/// Each axis and its values, as written.
type RawAxes = BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>;

/// The `[[variants]]` a matrix stands for, with spans on the matrix keys they come from.
pub(super) fn expand_matrix(src: &Source<'_>, matrix: Spanned<RawMatrix>) -> Result<Vec<RawVariant>, DefinitionError> {
    let matrix = matrix.into_inner();
    if matrix.axes.get_ref().is_empty() {
        return Err(src.at(
            &matrix.axes,
            "`axes` is empty".to_string(),
            "name at least one axis and its values, e.g. `axes = { NODE = [\"20\", \"22\"] }`".to_string(),
        ));
    }
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for (axis, values) in matrix.axes.get_ref() {
        if !is_arg_name(axis.get_ref()) {
            return Err(src.at(
                axis,
                format!("axis {:?} is not a build arg name", axis.get_ref()),
                "axes become build args: use letters, digits and `_`, e.g. `NODE`".to_string(),
            ));
        }
        if values.get_ref().is_empty() {
            return Err(src.at(
                values,
                format!("axis {} has no values", axis.get_ref()),
                "list its values, or remove the axis".to_string(),
            ));
        }
        let mut seen = Vec::new();
        for value in values.get_ref() {
            if value.get_ref().is_empty() || value.get_ref().contains('\0') {
                return Err(src.at(
                    value,
                    format!("axis {} has an empty value or a NUL", axis.get_ref()),
                    NUL_HINT.to_string(),
                ));
            }
            if seen.contains(value.get_ref()) {
                return Err(src.at(
                    value,
                    format!("axis {} lists {:?} twice", axis.get_ref(), value.get_ref()),
                    "list each value once".to_string(),
                ));
            }
            seen.push(value.get_ref().clone());
        }
        axes.push((axis.get_ref().clone(), seen));
    }
    let total = axes.iter().try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()));
    if total.is_none_or(|n| n > MAX_COMBINATIONS) {
        return Err(src.at(
            &matrix.axes,
            format!("the axes make more than {MAX_COMBINATIONS} combinations"),
            "split the image, or use fewer values: every combination is built, tagged and tested".to_string(),
        ));
    }
    let known = |name: &str| axes.iter().any(|(axis, _)| axis == name);
    // Every template may name only axes.
    let templates = std::iter::once(&matrix.name)
        .chain(matrix.dockerfile.as_ref())
        .chain(matrix.repository.as_ref())
        .chain(&matrix.aliases);
    for template in templates {
        if let Some(unknown) = placeholders(template.get_ref()).find(|p| !known(p)) {
            let names: Vec<&str> = axes.iter().map(|(a, _)| a.as_str()).collect();
            let hint = match nearest(unknown, names.iter().copied()) {
                Some(close) => format!("did you mean {{{close}}}? The axes are {}", names.join(", ")),
                None => format!("the axes are {}", names.join(", ")),
            };
            return Err(src.at(
                template,
                format!("{:?} names {{{unknown}}}, which is not an axis", template.get_ref()),
                hint,
            ));
        }
    }
    let mut excluded: Vec<Combination> = Vec::new();
    for entry in &matrix.exclude {
        let mut combination = Combination::new();
        for (axis, value) in entry.get_ref() {
            let Some((_, values)) = axes.iter().find(|(a, _)| a == axis.get_ref()) else {
                return Err(src.at(
                    axis,
                    format!("`exclude` names the axis {}, which the matrix does not have", axis.get_ref()),
                    "name axes of `axes`".to_string(),
                ));
            };
            if !values.contains(value.get_ref()) {
                return Err(src.at(
                    value,
                    format!(
                        "`exclude` names {}={:?}, which is not a value of that axis",
                        axis.get_ref(),
                        value.get_ref()
                    ),
                    format!("its values are {}", values.join(", ")),
                ));
            }
            combination.insert(axis.get_ref().clone(), value.get_ref().clone());
        }
        excluded.push(combination);
    }
    let combinations: Vec<Combination> = product(&axes)
        .into_iter()
        .filter(|c| !excluded.iter().any(|e| e.iter().all(|(axis, value)| c.get(axis) == Some(value))))
        .collect();
    if combinations.is_empty() {
        return Err(src.at(
            &matrix.axes,
            "`exclude` removes every combination".to_string(),
            "exclude fewer combinations".to_string(),
        ));
    }
    if combinations.len() > MAX_VARIANTS {
        return Err(src.at(
            &matrix.axes,
            format!("the matrix gives {} variants, more than the {MAX_VARIANTS} an image may have", combinations.len()),
            "split the image, or exclude combinations".to_string(),
        ));
    }
    let mut narrowed: Vec<(Combination, &Spanned<Vec<Spanned<String>>>)> = Vec::new();
    for entry in &matrix.platforms_for {
        let when = &entry.get_ref().when;
        if when.is_empty() {
            return Err(src.at(
                entry,
                "`platforms_for` has an empty `when`".to_string(),
                "name the combinations, e.g. `when = { FLAVOUR = \"chrome\" }`".to_string(),
            ));
        }
        for (axis, value) in when {
            match axes.iter().find(|(a, _)| a == axis) {
                None => {
                    return Err(src.at(
                        entry,
                        format!("`platforms_for` names the axis {axis}, which the matrix does not have"),
                        "name axes of `axes`".to_string(),
                    ))
                }
                Some((_, values)) if !values.contains(value) => {
                    return Err(src.at(
                        entry,
                        format!("`platforms_for` names {axis}={value:?}, which is not a value of that axis"),
                        format!("its values are {}", values.join(", ")),
                    ))
                }
                Some(_) => {}
            }
        }
        narrowed.push((when.clone(), &entry.get_ref().platforms));
    }
    let names: Vec<String> = combinations.iter().map(|c| render(matrix.name.get_ref(), c)).collect();
    if !names.contains(matrix.default.get_ref()) {
        let hint = match nearest(matrix.default.get_ref(), names.iter().map(String::as_str)) {
            Some(close) => format!("did you mean {close:?}?"),
            None => format!("the matrix names its variants {}", names.join(", ")),
        };
        return Err(src.at(
            &matrix.default,
            format!("`default` is {:?}, which the matrix does not generate", matrix.default.get_ref()),
            hint,
        ));
    }
    let at = |template: &Spanned<String>, c: &Combination| Spanned::new(template.span(), render(template.get_ref(), c));
    Ok(combinations
        .iter()
        .zip(names)
        .map(|(c, name)| RawVariant {
            default: (name == *matrix.default.get_ref()).then(|| Spanned::new(matrix.default.span(), true)),
            name: Spanned::new(matrix.name.span(), name),
            aliases: matrix.aliases.iter().map(|a| at(a, c)).collect(),
            args: Some(
                c.iter().map(|(axis, value)| (Spanned::new(matrix.axes.span(), axis.clone()), value.clone())).collect(),
            ),
            dockerfile: matrix.dockerfile.as_ref().map(|d| at(d, c)),
            depends_on: None,
            // The last `platforms_for` that matches wins; else the matrix's `platforms`.
            platforms: narrowed
                .iter()
                .rev()
                .find(|(when, _)| when.iter().all(|(axis, value)| c.get(axis) == Some(value)))
                .map(|(_, platforms)| (*platforms).clone())
                .or_else(|| matrix.platforms.clone()),
            repository: matrix.repository.as_ref().map(|r| at(r, c)),
        })
        .collect())
}

/// Every combination of the axes' values, the first axis varying slowest.
fn product(axes: &[(String, Vec<String>)]) -> Vec<Combination> {
    axes.iter().fold(vec![Combination::new()], |partial, (axis, values)| {
        partial
            .iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut next = c.clone();
                    next.insert(axis.clone(), v.clone());
                    next
                })
            })
            .collect()
    })
}

/// The `{AXIS}` names in a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// `template` with each `{AXIS}` replaced by its value in `c` (all axes were checked).
fn render(template: &str, c: &Combination) -> String {
    c.iter().fold(template.to_string(), |text, (axis, value)| text.replace(&format!("{{{axis}}}"), value))
}
