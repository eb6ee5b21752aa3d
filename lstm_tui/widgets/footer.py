"""The key bar: Textual's Footer, redrawn only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's :class:`~textual.widgets.Footer`, recomposed only when the keys it would show change.

    Textual's footer builds its key widgets again whenever its screen's bindings are refreshed,
    which closing any prompt or list over the app does: at H = 1024 and 160x50 that restyled a
    dozen new widgets while the screen under the prompt was drawn again (about 20 ms of each
    patch added with ``!``). The keys it shows are the same every time, so it keeps them.
    """

    _shown: tuple | None = None  # the keys (binding, enabled, tooltip) of its last compose

    def bindings_changed(self, screen: Screen) -> None:
        shown = tuple((b, enabled, tip) for _, b, enabled, tip in screen.active_bindings.values() if b.show)
        if shown == self._shown:
            self._bindings_ready = True
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and self.is_attached and screen is self.screen:  # it recomposes
            self._shown = shown
