"""A virtual table: it holds rows of plain text and draws only the lines on screen.

Textual's DataTable builds every row it is given (about 0.3 ms a row); at the paper's
scale the per-run table has 2,511 runs x 7 methods. Here setting rows is O(1), column
widths come with the rows (computed off the UI thread), and a redraw styles only the
visible lines, so a toggle over 17,000 rows costs a list filter and one screen of text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Column:
    title: str
    right: bool = False  # right-justified (numbers)
    style: Callable[[str], str] | None = None  # a cell's style from its text (e.g. a change's sign)


@dataclass(frozen=True)
class Rows:
    """A table's content: columns, rows of text, a key per row, and column widths that fit
    every row (so that filtering rows never changes the layout)."""

    columns: tuple[Column, ...]
    rows: Sequence[tuple[str, ...]]
    keys: Sequence[str]
    widths: tuple[int, ...]

    @classmethod
    def build(
        cls,
        columns: Sequence[Column],
        rows: Sequence[tuple[str, ...]],
        keys: Sequence[str],
        widths: Sequence[int] | None = None,
    ) -> "Rows":
        """``widths``: already known to fit ``rows`` (widened to the titles here)."""
        fit = fit_widths(rows, len(columns)) if widths is None else widths
        return cls(tuple(columns), rows, keys, tuple(max(w, cell_len(c.title)) for w, c in zip(fit, columns)))

    def subset(self, keep: Sequence[int]) -> "Rows":
        return Rows(self.columns, [self.rows[i] for i in keep], [self.keys[i] for i in keep], self.widths)


def fit_widths(rows: Sequence[tuple[str, ...]], n: int) -> list[int]:
    """Each column's width in terminal cells, over ``rows``."""
    widths = [0] * n
    for row in rows:
        for i, cell in enumerate(row):
            w = len(cell)  # ASCII almost always; cell_len only for the wide ones
            if w > widths[i] or not cell.isascii():
                widths[i] = max(widths[i], cell_len(cell))
    return widths


EMPTY = Rows((), [], [], ())


class RowTable(ScrollView, can_focus=True):
    """Rows with a fixed header, a row cursor and zebra stripes; enter selects a row."""

    BINDINGS = [
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
        Binding("enter", "select", show=False),
    ]
    COMPONENT_CLASSES = {"rowtable--header", "rowtable--cursor", "rowtable--odd"}
    DEFAULT_CSS = """
    RowTable { height: 1fr; }
    RowTable > .rowtable--header { text-style: bold; color: $text-accent; }
    RowTable > .rowtable--cursor { background: $block-cursor-blurred-background; }
    RowTable:focus > .rowtable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RowTable > .rowtable--odd { background: $surface-lighten-1 10%; }
    """

    class RowHighlighted(Message):
        def __init__(self, table: "RowTable", key: str | None):
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> "RowTable":
            return self.table

    class RowSelected(RowHighlighted):
        pass

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.data: Rows = EMPTY
        self.cursor = 0
        self.drawn = 0  # how many times the table was drawn (the app benchmark waits on it)
        self.lines = 0  # and how many lines, which a test holds to a screenful

    # --- content -----------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.data.rows)

    def get_row_at(self, i: int) -> tuple[str, ...]:
        return self.data.rows[i]

    def keys(self) -> list[str]:
        """The keys of every row shown, in order."""
        return list(self.data.keys)

    @property
    def cursor_key(self) -> str | None:
        return self.data.keys[self.cursor] if self.data.rows else None

    def show(self, data: Rows) -> None:
        """Replace the rows, keeping the cursor on the same key where it is still shown."""
        key = self.cursor_key
        self.data = data
        if key is not None and data.rows:
            try:
                self.cursor = (
                    list(data.keys).index(key) if len(data.keys) < 50_000 else min(self.cursor, len(data.rows) - 1)
                )
            except ValueError:
                self.cursor = min(self.cursor, len(data.rows) - 1)
        else:
            self.cursor = 0
        self._resize(Size(sum(data.widths) + len(data.widths), len(data.rows) + 1))
        self._cursor_into_view()
        self.refresh()
        if self.cursor_key != key:  # new rows under the cursor: what follows the highlight follows them
            self.post_message(self.RowHighlighted(self, self.cursor_key))

    def _resize(self, size: Size) -> None:
        """A new virtual size. Setting it re-lays out the whole screen (tens of ms here);
        when only the row count changes and the scroll bars stay as they are, the table's
        own scroll range and scroll bar are all that change."""
        old = self.virtual_size
        if size == old:
            return
        shown = self.scrollable_content_region.height
        if (
            self.styles.height is None
            or self.styles.height.is_auto
            or size.width != old.width
            or not (self.show_vertical_scrollbar and size.height > shown and old.height > shown)
        ):
            self.virtual_size = size
            return
        self.set_reactive(RowTable.virtual_size, size)
        self.vertical_scrollbar.window_virtual_size = size.height
        self.vertical_scrollbar.refresh()
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    # --- cursor ------------------------------------------------------------------------

    def _move(self, row: int) -> None:
        if not self.data.rows:
            return
        row = max(0, min(row, len(self.data.rows) - 1))
        if row != self.cursor:
            self.cursor = row
            self._cursor_into_view()
            self.refresh()
            self.post_message(self.RowHighlighted(self, self.cursor_key))

    def _cursor_into_view(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def move_cursor(self, row: int) -> None:
        self._move(row)

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._move(self.cursor + step * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        self._move(0 if where == 0 else len(self.data.rows) - 1)

    def action_select(self) -> None:
        if self.data.rows:
            self.post_message(self.RowSelected(self, self.cursor_key))

    def on_click(self, event: Click) -> None:
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.data.rows):
            if row == self.cursor:
                self.action_select()
            self._move(row)

    # --- drawing -----------------------------------------------------------------------

    def render_lines(self, crop):
        # The styles once a pass, not once a line: reading them walks the CSS.
        base = self.rich_style
        self._styles = (
            base,
            base + self.get_component_rich_style("rowtable--header"),
            base + self.get_component_rich_style("rowtable--odd"),
            base + self.get_component_rich_style("rowtable--cursor"),
        )
        self._style_cache: dict[tuple[Style, str], Style] = {}
        self.drawn += 1
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        base, header, odd, cursor = self._styles
        self.lines += 1
        width = self.scrollable_content_region.width
        x = round(self.scroll_x)
        if y == 0:
            return self._strip([c.title for c in self.data.columns], header, x, width, header=True)
        row = round(self.scroll_y) + y - 1
        if row >= len(self.data.rows):
            return Strip.blank(width, base)
        style = cursor if row == self.cursor else odd if row % 2 else base
        return self._strip(self.data.rows[row], style, x, width)

    def _strip(self, cells: Sequence[str], style: Style, x: int, width: int, header: bool = False) -> Strip:
        # Unstyled cells are joined into one segment; only coloured cells get their own.
        segments, plain = [], []
        for col, w, cell in zip(self.data.columns, self.data.widths, cells):
            n = len(cell) if cell.isascii() else cell_len(cell)
            if n == w:
                text = cell
            elif n < w:
                text = " " * (w - n) + cell if col.right else cell + " " * (w - n)
            else:
                text = set_cell_size(cell, w)
            own = None if header or col.style is None else col.style(cell)
            if own:
                if plain:
                    segments.append(Segment("".join(plain), style))
                    plain = []
                segments.append(Segment(text, self._combined(style, own)))
                plain.append(" ")
            else:
                plain += (text, " ")
        if plain:
            segments.append(Segment("".join(plain), style))
        total = sum(self.data.widths) + len(self.data.widths)
        strip = Strip(segments, total)
        if x or total > width:
            strip = strip.crop(x, x + width)
        return strip.extend_cell_length(width, style) if strip.cell_length < width else strip

    def _combined(self, style: Style, own: str) -> Style:
        key = (style, own)
        hit = self._style_cache.get(key)
        if hit is None:
            hit = self._style_cache[key] = style + Style.parse(own)
        return hit
