"""Write docs/screenshot.svg: the app on its default model, a few steps in.

    python scripts/screenshot.py [OUT.svg]
"""

from __future__ import annotations

import asyncio
import sys

from lstm_tui.app import LstmApp
from lstm_tui.cli import EXAMPLE_TEXT
from lstm_tui.core.registry import DEFAULT, load_model


async def shoot(path: str) -> None:
    app = LstmApp(load_model(DEFAULT), text=EXAMPLE_TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "n", "n", "n", "n", "down", "down")
        await pilot.pause()
        app.save_screenshot(path)


if __name__ == "__main__":
    asyncio.run(shoot(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.svg"))
