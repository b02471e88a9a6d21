//! The one way BENCHMARKS.md writes a table: a header and rows of cells, rendered as
//! a Markdown table followed by the blank line that ends it. Every table in the
//! report goes through [`Table`], so they all look alike.

use std::fmt::Write as _;

/// A Markdown table under construction.
pub struct Table {
    columns: usize,
    text: String,
}

impl Table {
    /// A table with these column headings (an empty heading is a blank cell).
    pub fn new(header: &[&str]) -> Table {
        let mut table = Table {
            columns: header.len(),
            text: String::new(),
        };
        table.line(header);
        table.line(&vec!["---"; header.len()]);
        table
    }

    /// One row, a cell per column (an empty cell is left blank).
    pub fn row(&mut self, cells: &[&str]) -> &mut Table {
        debug_assert_eq!(cells.len(), self.columns, "a row of {cells:?}");
        self.line(cells);
        self
    }

    /// Appends the table and a blank line to `w`.
    pub fn write(&self, w: &mut String) {
        let _ = writeln!(w, "{}", self.text);
    }

    fn line(&mut self, cells: &[&str]) {
        self.text.push('|');
        for cell in cells {
            if !cell.is_empty() {
                self.text.push(' ');
                self.text.push_str(cell);
            }
            self.text.push_str(" |");
        }
        self.text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn renders_markdown_with_blank_cells() {
        let mut w = String::new();
        let mut table = Table::new(&["", "p50", "max"]);
        table
            .row(&["**Kith**", "2 ms", ""])
            .row(&["(b)", "1 ms", "3 ms"]);
        table.write(&mut w);
        assert_eq!(
            w,
            "| | p50 | max |\n| --- | --- | --- |\n| **Kith** | 2 ms | |\n| (b) | 1 ms | 3 ms |\n\n"
        );
    }
}
