"""Write the README's pictures: the default model at its deepest bracket, depth unit selected.

    python scripts/screenshot.py [FOLDER]     (default: docs)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import DEFAULT, load_model


async def shoot(folder: Path) -> None:
    model = load_model(DEFAULT)
    unit = int(model.meta.get("depth_unit", 0))
    app = LstmApp(model, text=model.meta.get("example", ""))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("g", *"16", "enter", *["down"] * unit)
        await pilot.pause()
        app.save_screenshot("screenshot.svg", str(folder))
        await pilot.press("3")
        await pilot.pause()
        app.save_screenshot("history.svg", str(folder))


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
