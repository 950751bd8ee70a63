"""load_strategy's forms and its error messages, parse_params and describe."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lstmtrade import LongFlat, LongShort, PredictionStrategy, StrategyError, VolTarget
from lstmtrade.backtesting.loader import describe, load_strategy, parse_params, strategies_in_folder

GOOD = '''
from lstmtrade import PredictionStrategy


class HalfIn(PredictionStrategy):
    """Half long when the forecast is positive."""
    params = (("size", 0.5),)  # fraction of equity

    def target_weight(self, prediction):
        return self.p.size if prediction > 0 else 0.0
'''


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


# -- the forms --------------------------------------------------------------------------------------

def test_builtin_names_any_case():
    assert load_strategy("LongShort") is LongShort
    assert load_strategy("longflat") is LongFlat
    assert load_strategy(" VolTarget ") is VolTarget
    assert load_strategy(LongFlat) is LongFlat


def test_unknown_builtin_suggests_a_name():
    with pytest.raises(StrategyError, match=r"unknown strategy 'LongShrt': did you mean 'LongShort'\?") as err:
        load_strategy("LongShrt")
    assert "LongFlat" in str(err.value) and "file.py" in str(err.value)


def test_file_with_one_class_needs_no_class_name(tmp_path):
    path = write(tmp_path, "half.py", GOOD)
    cls = load_strategy(str(path))
    assert cls.__name__ == "HalfIn" and issubclass(cls, PredictionStrategy)
    assert load_strategy(f"{path}:HalfIn") is cls  # same module, imported once


def test_relative_path(tmp_path, monkeypatch):
    write(tmp_path, "half.py", GOOD)
    monkeypatch.chdir(tmp_path)
    assert load_strategy("half.py").__name__ == "HalfIn"
    assert load_strategy("./half.py:HalfIn").__name__ == "HalfIn"


def test_imported_strategies_are_not_counted(tmp_path):
    path = write(tmp_path, "mine.py", GOOD.replace("import PredictionStrategy", "import PredictionStrategy, LongFlat"))
    assert load_strategy(str(path)).__name__ == "HalfIn"


def test_package_module_class(tmp_path, monkeypatch):
    pkg = tmp_path / "mystrats_pkg"
    pkg.mkdir()
    write(pkg, "__init__.py", "")
    write(pkg, "rules.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = load_strategy("mystrats_pkg.rules:HalfIn")
    assert cls.__name__ == "HalfIn" and cls.__module__ == "mystrats_pkg.rules"
    with pytest.raises(StrategyError, match="class 'Nope' not found in mystrats_pkg.rules; it has: HalfIn"):
        load_strategy("mystrats_pkg.rules:Nope")


def test_missing_module(tmp_path):
    with pytest.raises(StrategyError, match=r"could not import module 'no_such_pkg_xyz\.rules' "
                                            r"\(is it installed or on PYTHONPATH\?\)"):
        load_strategy("no_such_pkg_xyz.rules:Thing")


def test_module_that_imports_a_missing_dependency(tmp_path, monkeypatch):
    pkg = tmp_path / "deppkg_xyz"
    pkg.mkdir()
    write(pkg, "__init__.py", "")
    write(pkg, "rules.py", "import os\nimport not_installed_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyError) as err:
        load_strategy("deppkg_xyz.rules:Thing")
    message = str(err.value)
    assert "not_installed_dep_xyz" in message and "rules.py:2:" in message


# -- errors -----------------------------------------------------------------------------------------

def test_file_not_found(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(StrategyError, match="strategy file not found: .*nope.py"):
        load_strategy(str(missing))
    with pytest.raises(StrategyError, match="strategy file not found"):
        load_strategy(f"{missing}:Cls")


def test_folder_is_not_a_file(tmp_path):
    folder = tmp_path / "dir.py"
    folder.mkdir()
    with pytest.raises(StrategyError, match="is a folder"):
        load_strategy(str(folder))


def test_exception_while_importing_points_at_the_users_line(tmp_path):
    path = write(tmp_path, "boom_user.py", """\
        from lstmtrade import PredictionStrategy
        x = 1
        raise RuntimeError("broken on purpose")
        """)
    with pytest.raises(StrategyError) as err:
        load_strategy(str(path))
    message = str(err.value)
    assert "boom_user.py:3:" in message
    assert "RuntimeError: broken on purpose" in message
    assert "loader.py" not in message and "importlib" not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_error_inside_a_helper_called_by_the_users_file(tmp_path):
    path = write(tmp_path, "helper_user.py", """\
        def helper():
            return 1 / 0

        VALUE = helper()
        """)
    with pytest.raises(StrategyError, match=r"helper_user.py:2: ZeroDivisionError"):
        load_strategy(str(path))


def test_syntax_error(tmp_path):
    path = write(tmp_path, "syntax_user.py", """\
        from lstmtrade import PredictionStrategy

        class Broken(PredictionStrategy)
            pass
        """)
    with pytest.raises(StrategyError) as err:
        load_strategy(str(path))
    message = str(err.value)
    assert "syntax_user.py:3:" in message and "SyntaxError" in message
    assert "loader.py" not in message


def test_failed_import_can_be_retried_after_a_fix(tmp_path):
    path = write(tmp_path, "retry_user.py", "raise ValueError('not yet')\n")
    with pytest.raises(StrategyError, match="not yet"):
        load_strategy(str(path))
    path.write_text(GOOD)
    assert load_strategy(str(path)).__name__ == "HalfIn"


def test_class_not_found_lists_what_is_there(tmp_path):
    path = write(tmp_path, "two_user.py", GOOD + '''

class Other(PredictionStrategy):
    def target_weight(self, prediction):
        return 0.0
''')
    with pytest.raises(StrategyError) as err:
        load_strategy(f"{path}:Missing")
    message = str(err.value)
    assert "class 'Missing' not found" in message and "HalfIn" in message and "Other" in message


def test_two_strategies_and_no_class_name(tmp_path):
    path = write(tmp_path, "pair_user.py", GOOD + '''

class Other(PredictionStrategy):
    def target_weight(self, prediction):
        return 0.0
''')
    with pytest.raises(StrategyError) as err:
        load_strategy(str(path))
    message = str(err.value)
    assert "defines 2 PredictionStrategy subclasses (HalfIn, Other)" in message
    assert f"{path}:Class" in message
    assert load_strategy(f"{path}:Other").__name__ == "Other"


def test_file_without_a_strategy(tmp_path):
    path = write(tmp_path, "empty_user.py", "class NotOne:\n    pass\n")
    with pytest.raises(StrategyError, match="defines no PredictionStrategy subclass"):
        load_strategy(str(path))


def test_not_a_prediction_strategy(tmp_path):
    path = write(tmp_path, "plain_user.py", """\
        import backtrader as bt

        class Plain(bt.Strategy):
            pass

        def function():
            pass
        """)
    for name in ("Plain", "function"):
        with pytest.raises(StrategyError, match=f"plain_user.py:{name} is not a PredictionStrategy subclass"):
            load_strategy(f"{path}:{name}")
    with pytest.raises(StrategyError, match="is not a PredictionStrategy subclass"):
        load_strategy(dict)


def test_windows_style_drive_colon_is_not_a_class_separator():
    with pytest.raises(StrategyError, match="strategy file not found"):
        load_strategy(r"Z:\nowhere\strategy.py")


def test_strategies_in_folder_reports_problems(tmp_path):
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "bad.py", "raise ImportError('nope')\n")
    write(tmp_path, "_private.py", "raise SystemExit\n")
    found, problems = strategies_in_folder(tmp_path)
    assert [label.split("/")[-1] for label, _ in found] == ["good.py:HalfIn"]
    assert len(problems) == 1 and "bad.py:1:" in problems[0]


# -- params -----------------------------------------------------------------------------------------

class Typed(PredictionStrategy):
    params = (
        ("count", 3),
        ("ratio", 0.5),
        ("flag", False),
        ("label", "x"),
        ("anything", None),
    )

    def target_weight(self, prediction):
        return 0.0


def test_parse_params_typed_like_defaults():
    out = parse_params(Typed, ["count=7", "ratio=2", "flag=yes", "label=abc", "anything=1.5", "min-trade=0.1"])
    assert out == {"count": 7, "ratio": 2.0, "flag": True, "label": "abc", "anything": 1.5, "min_trade": 0.1}
    assert type(out["count"]) is int and type(out["ratio"]) is float and out["flag"] is True
    assert parse_params(Typed, ["flag=off", "anything=word"]) == {"flag": False, "anything": "word"}
    assert parse_params(Typed, ["anything=4"])["anything"] == 4
    assert parse_params(Typed, []) == {}


@pytest.mark.parametrize("pair, expected", [
    ("count=1.5", "--param count=1.5: expected int (default 3)"),
    ("ratio=abc", "--param ratio=abc: expected float (default 0.5)"),
    ("flag=maybe", "--param flag=maybe: expected bool (default False)"),
])
def test_parse_params_refuses_wrong_types(pair, expected):
    with pytest.raises(StrategyError) as err:
        parse_params(Typed, [pair])
    assert str(err.value) == expected


def test_parse_params_unknown_name_suggests():
    with pytest.raises(StrategyError) as err:
        parse_params(Typed, ["cuont=2"])
    message = str(err.value)
    assert "Typed has no param 'cuont'" in message
    assert "did you mean 'count'?" in message
    assert "valid params: min_trade, count, ratio, flag, label, anything" in message
    with pytest.raises(StrategyError, match="no param 'zzz'; valid params: "):
        parse_params(Typed, ["zzz=1"])


def test_parse_params_needs_name_equals_value():
    for bad in ("count", "=3"):
        with pytest.raises(StrategyError, match="must look like name=value"):
            parse_params(Typed, [bad])


def test_describe_uses_the_classes_own_docstring():
    doc, params = describe(VolTarget)
    assert doc.startswith("Long (or short) in the forecast's direction")
    assert params["window"] == 20 and params["min_trade"] == 0.05
    doc, params = describe(Typed)  # no docstring: not the base class's
    assert doc == "" and list(params) == ["min_trade", "count", "ratio", "flag", "label", "anything"]
