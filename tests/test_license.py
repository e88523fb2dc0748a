"""The licence pyproject.toml declares is the one the repository ships."""

import tomllib

from bench.common import ROOT


def test_the_repository_ships_the_mit_licence_that_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()

    assert declared == "MIT"
    assert text.startswith("MIT License\n\nCopyright (c) 2026 The SOC confirm contributors\n")
    assert "Permission is hereby granted, free of charge, to any person" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
