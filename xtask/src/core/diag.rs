//! Error locations and "did you mean" hints shared by every parser.

use std::fmt;

/// A position in a file, 1-based, as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub col: usize,
}

impl LineCol {
    /// The line and column of byte `offset` in `text` (columns count characters).
    pub fn of(text: &str, offset: usize) -> LineCol {
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LineCol { line, col: before[line_start..].chars().count() + 1 }
    }
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The candidate closest to `word` by edit distance, if it is plausibly a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_handles_multibyte_text() {
        let text = "a = 1\nbé = 2\nc = 3";
        assert_eq!(LineCol::of(text, 0), LineCol { line: 1, col: 1 });
        assert_eq!(LineCol::of(text, 6), LineCol { line: 2, col: 1 });
        // `=` on line 2 comes after the two-byte `é` and a space.
        assert_eq!(LineCol::of(text, text.find(" = 2").unwrap() + 1), LineCol { line: 2, col: 4 });
        assert_eq!(LineCol::of(text, 999), LineCol { line: 3, col: 6 });
    }

    #[test]
    fn nearest_suggests_typos_but_not_unrelated_words() {
        let keys = ["dockerfile", "context", "platforms", "depends_on"];
        assert_eq!(nearest("dockerfil", keys), Some("dockerfile"));
        assert_eq!(nearest("platform", keys), Some("platforms"));
        assert_eq!(nearest("depends-on", keys), Some("depends_on"));
        assert_eq!(nearest("maintainer", keys), None);
    }
}
