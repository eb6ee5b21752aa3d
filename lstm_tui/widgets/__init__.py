"""Thin widgets: each reads arrays handed to it and draws them via ``lstm_tui.render``."""
