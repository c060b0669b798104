"""The diagram-script sandbox: known escapes are refused, ordinary CRM scripts still run.

Why these tests exist: SpiffWorkflow's default environment exec()s analyst-written code with
full Python behind it. Every entry in ESCAPES is a published or obvious way out of a naive
Python sandbox; each must end in SandboxError whose message names what was refused.
"""

from __future__ import annotations

import datetime as real_datetime
import decimal
import time
from decimal import Decimal
from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.sandbox import (
    RestrictedEnvironment,
    SandboxError,
    check_source,
    clear_compile_cache,
    compile_cache_info,
)


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment()


# (id, mode, source, substring the refusal message must contain)
ESCAPES: list[tuple[str, str, str, str]] = [
    ("subclasses-via-tuple", "eval", "().__class__.__base__.__subclasses__()", "__class__"),
    ("subclasses-via-mro", "eval", "[].__class__.__mro__[1].__subclasses__()", "__class__"),
    ("format-class-walk", "eval", '"{0.__class__.__base__}".format(1)', "format"),
    ("format-map-globals", "eval", '"{x.__init__.__globals__}".format_map({"x": len})', "format_map"),
    ("format-on-variable", "exec", 's = "{0.__class__}"\nr = s.format(1)', "format"),
    ("format-unbound", "eval", 'str.format("{0.__class__}", 1)', "format"),
    ("generator-frame-walk", "eval", "(x for x in [1]).gi_frame.f_back.f_globals", "gi_frame"),
    ("generator-frame-getattr", "eval", "getattr((x for x in [1]), 'gi_frame')", "gi_frame"),
    ("generator-code", "eval", "(x for x in [1]).gi_code", "gi_code"),
    ("dunder-import", "eval", "__import__('os').system('id')", "__import__"),
    ("open-file", "eval", "open('/etc/passwd').read()", "open"),
    ("eval", "eval", "eval('1')", "eval"),
    ("exec", "exec", "exec('x=1')", "exec"),
    ("compile", "eval", "compile('1', '', 'eval')", "compile"),
    ("globals", "eval", "globals()", "globals"),
    ("locals-builtins", "eval", "locals()['__builtins__']", "locals"),
    ("vars", "eval", "vars()", "vars"),
    ("dir", "eval", "dir()", "dir"),
    ("breakpoint", "exec", "breakpoint()", "breakpoint"),
    ("getattr-dunder", "eval", "getattr(1, '__class__')", "__class__"),
    ("hasattr-dunder", "eval", "hasattr(1, '__class__')", "__class__"),
    ("type-subclasses", "eval", "type(1).__subclasses__()", "__subclasses__"),
    ("type-mro", "eval", "type(1).mro()", "mro"),
    ("type-mro-getattr", "eval", "getattr(type(1), 'mro')()", "mro"),
    ("type-3-args", "eval", "type('X', (), {})", "type()"),
    ("object-subclasses", "eval", "object.__subclasses__()", "__subclasses__"),
    ("object-call", "eval", "object()", "object"),
    ("import-os", "exec", "import os", "'os'"),
    ("from-os-import", "exec", "from os import system", "'os'"),
    ("import-submodule", "exec", "import os.path", "'os.path'"),
    ("relative-import", "exec", "from . import engine", "import"),
    ("from-datetime-import-sys", "exec", "from datetime import sys", "'sys'"),
    ("datetime-module-sys", "exec", "import datetime\nm = datetime.sys.modules", "'sys'"),
    ("decimal-getcontext", "exec", "import decimal\ndecimal.getcontext().prec = 10**9", "getcontext"),
    ("math-factorial", "exec", "import math\nx = math.factorial(10**6)", "factorial"),
    ("lambda-code", "eval", "(lambda: None).__code__", "__code__"),
    ("lambda-globals", "eval", "(lambda: 0).__globals__", "__globals__"),
    ("comprehension-bases", "eval", "[c for c in ().__class__.__bases__]", "__class__"),
    ("builtins-dict", "eval", "__builtins__['open']", "__builtins__"),
    ("setattr", "exec", "setattr(timedelta, 'days', 1)", "setattr"),
    ("delattr", "exec", "delattr(timedelta, 'days')", "delattr"),
    ("memoryview", "eval", "memoryview(b'abc')", "memoryview"),
    ("bytes-alloc", "eval", "bytes(10**10)", "bytes"),
    (
        "traceback-frame", "exec",
        "try:\n    1/0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame", "__traceback__",
    ),
    ("exception-obj-leak", "exec", "try:\n    Decimal.nope\nexcept AttributeError as e:\n    D = e.obj", "'obj'"),
    ("class-definition", "exec", "class X:\n    pass", "class"),
    ("except-star", "exec", "try:\n    pass\nexcept* ValueError:\n    pass", "TryStar"),
    ("async-def", "exec", "async def f():\n    pass", "AsyncFunctionDef"),
    ("write-module-attr", "exec", "math.pi = 3", "changing a module"),
    ("write-class-attr", "exec", "datetime.now = None", "changing a type"),
    ("func-self", "eval", "len.__self__", "__self__"),
    ("string-repeat", "eval", "'a' * 10**10", "10,000,000"),
    ("list-repeat", "eval", "[0] * 10**8", "10,000,000"),
    ("inplace-repeat", "exec", "s = 'ab'\ns *= 10**9", "10,000,000"),
    ("concat-doubling", "exec", "s = 'a' * 10**7\ns = s + s", "concatenating"),
    ("huge-power", "eval", "10 ** 10 ** 10", "'**'"),
    ("huge-pow-builtin", "eval", "pow(10, 10**10)", "'**'"),
    ("huge-shift", "eval", "1 << 10**10", "'<<'"),
    ("huge-int-mul", "exec", "x = 7 ** 5000\nx = x * x * x * x", "'*'"),
    ("range-huge", "eval", "range(10**12)", "range()"),
    ("list-range-huge", "eval", "list(range(10**12))", "range()"),
    ("ljust-huge", "eval", "'x'.ljust(10**10)", "ljust()"),
    ("join-huge", "eval", "','.join(['a' * 10**6] * 100)", "join()"),
    ("replace-huge", "eval", "('a' * 10**6).replace('a', 'bbbbbbbbbbbbbbbbbbbb')", "replace()"),
    ("to-bytes-huge", "eval", "(5).to_bytes(10**9, 'big')", "to_bytes()"),
    ("fstring-width", "eval", "f\"{'a':>{10**9}}\"", "width"),
    ("percent-star-width", "eval", "'%*d' % (10**9, 1)", "'*'"),
    ("percent-width", "eval", "'%999999999d' % 1", "999,999,999"),
    ("format-builtin-width", "eval", "format(1, '>999999999')", "width"),
    ("round-huge-digits", "eval", "round(5, -10**9)", "round()"),
    ("decimal-huge-exponent", "eval", "int(Decimal('1e999999'))", "exponent"),
    ("decimal-via-type", "eval", "type(Decimal(1))('1e999999')", "exponent"),
    ("iter-sentinel", "eval", "list(iter(int, 1))", "iter("),
    ("metaclass-makes-class", "eval", "type(type(1))('X', (), {})", "type()"),
    ("guarded-metaclass-makes-class", "eval", "type(Decimal)('X', (), {})", "type()"),
    ("real-range-via-type", "eval", "list(type(range(1))(10**12))", "range()"),
    ("real-bytes-via-type", "eval", "type(b'')(10**10)", "bytes"),
    ("int-from-bytes-huge", "eval", "int.from_bytes(b'\\xff' * 10**6, 'big')", "from_bytes()"),
    ("huge-hex-literal", "eval", "0x" + "f" * 5000, "integer literal"),
]


@pytest.mark.parametrize(("mode", "source", "expected"), [e[1:] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_escape_is_refused(env: RestrictedEnvironment, mode: str, source: str, expected: str) -> None:
    run = env.evaluate if mode == "eval" else env.execute
    context: dict[str, Any] = {}
    with pytest.raises(SandboxError) as info:
        run(source, context)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


# Compile-time refusals go through both paths the engine uses.
@pytest.mark.parametrize(
    "source",
    ["().__class__", "__import__('os')", "globals()", "(x for x in []).gi_frame", "'{}'.format(1)"],
)
def test_compile_refusals_on_both_paths(env: RestrictedEnvironment, source: str) -> None:
    with pytest.raises(SandboxError):
        env.evaluate(source, {})
    with pytest.raises(SandboxError):
        env.execute(f"x = {source}", {})
    assert check_source(source, "eval") and check_source(f"x = {source}", "exec")


def test_module_from_external_context_is_allow_listed(env: RestrictedEnvironment) -> None:
    """Even the real datetime module, if the engine ever passed it in, doesn't lead to sys."""
    with pytest.raises(SandboxError, match="'sys' of module 'datetime'"):
        env.evaluate("dtmod.sys.modules", {}, external_context={"dtmod": real_datetime})
    assert env.evaluate("dtmod.date(2024, 1, 2).day", {}, external_context={"dtmod": real_datetime}) == 2


def test_endless_loops_hit_the_time_limit() -> None:
    env = RestrictedEnvironment(time_limit=0.2)
    for script in (
        "while True:\n    pass",
        "n = 0\nfor i in range(10**6):\n    for j in range(10**6):\n        n += 1",
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(60)",
        "f = lambda n: f(n - 1) + f(n - 1) if n else 1\nx = f(60)",
    ):
        started = time.monotonic()
        with pytest.raises(SandboxError, match="time limit"):
            env.execute(script, {})
        assert time.monotonic() - started < 5


def test_decimal_arithmetic_cannot_grow_past_the_limit(env: RestrictedEnvironment) -> None:
    """Decimal(10) ** 999999 is legal in the default context and int() of it takes 25 s."""
    with pytest.raises(decimal.Overflow):
        env.evaluate("int(Decimal(10) ** 999999)", {})
    # ... and the engine's own decimal context is left alone afterwards.
    assert decimal.getcontext().Emax == decimal.DefaultContext.Emax


def test_runtime_errors_keep_their_type(env: RestrictedEnvironment) -> None:
    with pytest.raises(NameError):
        env.evaluate("undefined_name > 1", {})
    with pytest.raises(ZeroDivisionError):
        env.execute("x = 1 / 0", {})
    with pytest.raises(KeyError):
        env.evaluate("lead['missing']", {"lead": {}})
    with pytest.raises(AttributeError):
        env.evaluate("'abc'.no_such_method()", {})


# --- ordinary CRM scripts ----------------------------------------------------------------------


def test_condition_on_task_data(env: RestrictedEnvironment) -> None:
    data = {"discount_pct": 12, "threshold": 10, "region": "EU"}
    assert env.evaluate("discount_pct > threshold and region in ['EU', 'US']", data) is True
    assert env.evaluate("amount > 1000", {"amount": 999}) is False
    assert env.evaluate("\n   amount > 1000\n  ", {"amount": 1001}) is True  # as written in XML


def test_decimal_arithmetic_and_rounding(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"price": "19.99", "qty": 3}
    env.execute(
        "from decimal import ROUND_HALF_UP\n"
        "net = Decimal(price) * qty\n"
        "vat = (net * Decimal('0.19')).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)\n"
        "gross = net + vat\n"
        "rounded = round(float(gross), 1)\n"
        "is_dec = isinstance(gross, Decimal) and type(gross) is Decimal\n",
        ctx,
    )
    assert ctx["net"] == Decimal("59.97")
    assert ctx["vat"] == Decimal("11.39")
    assert ctx["gross"] == Decimal("71.36")
    assert ctx["rounded"] == 71.4
    assert ctx["is_dec"] is True
    assert "ROUND_HALF_UP" in ctx  # a plain str constant is data, like TaskDataEnvironment


def test_order_lines_comprehension_and_dict_building(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {
        "lines": [
            {"sku": "A", "qty": 2, "price": 10.0},
            {"sku": "B", "qty": 1, "price": 5.5},
            {"sku": "A", "qty": 1, "price": 10.0},
        ]
    }
    env.execute(
        "total = sum(l['qty'] * l['price'] for l in lines)\n"
        "by_sku = {}\n"
        "for l in lines:\n"
        "    by_sku[l['sku']] = by_sku.get(l['sku'], 0) + l['qty']\n"
        "skus = sorted({l['sku'] for l in lines})\n"
        "summary = {'count': len(lines), 'max': max(l['price'] for l in lines),\n"
        "           'min': min(l['qty'] for l in lines)}\n",
        ctx,
    )
    assert ctx["total"] == 35.5
    assert ctx["by_sku"] == {"A": 3, "B": 1}
    assert ctx["skus"] == ["A", "B"]
    assert ctx["summary"] == {"count": 3, "max": 10.0, "min": 1}


def test_string_methods_and_fstrings(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"lead": {"email": "  Ada@Example.COM ", "name": "ada lovelace"}, "amount": 1234.5}
    env.execute(
        "email = lead['email'].strip().lower()\n"
        "domain = email.split('@')[1]\n"
        "title = lead['name'].title()\n"
        "label = f'{title} <{email}> owes {amount:,.2f} EUR'\n"
        "code = '-'.join([domain.upper(), str(len(email))])\n"
        "pct = '%.1f%%' % 12.345\n"
        "padded = format(42, '>6')\n",
        ctx,
    )
    assert ctx["email"] == "ada@example.com"
    assert ctx["domain"] == "example.com"
    assert ctx["label"] == "Ada Lovelace <ada@example.com> owes 1,234.50 EUR"
    assert ctx["code"] == "EXAMPLE.COM-15"
    assert ctx["pct"] == "12.3%"
    assert ctx["padded"] == "    42"


def test_datetime_arithmetic(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"created": "2024-01-31T09:00:00+00:00"}
    env.execute(
        "start = datetime.fromisoformat(created)\n"
        "due = (start + timedelta(days=14)).isoformat()\n"
        "weekday = (start + timedelta(days=1)).weekday()\n"
        "age_days = (datetime(2024, 3, 1, tzinfo=timezone.utc) - start).days\n"
        "import datetime as dt\n"
        "first = dt.date(2024, 2, 1).isoformat()\n",
        ctx,
    )
    assert ctx["due"] == "2024-02-14T09:00:00+00:00"
    assert ctx["weekday"] == 3
    assert ctx["age_days"] == 29
    assert ctx["first"] == "2024-02-01"
    assert "dt" not in ctx  # modules are not task data
    timer = env.evaluate("(date(2024, 1, 1) + timedelta(days=1)).isoformat()", {})
    assert timer == "2024-01-02"


def test_augmented_assignment_loops_and_unpacking(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"pairs": [["EU", 10], ["US", 5], ["EU", 1]], "totals": {"EU": 0, "US": 0}}
    env.execute(
        "count = 0\n"
        "label = ''\n"
        "seen = []\n"
        "for region, amount in pairs:\n"
        "    count += 1\n"
        "    totals[region] += amount\n"
        "    label += region\n"
        "    seen += [amount]\n"
        "for i, (region, amount) in enumerate(pairs):\n"
        "    count -= 1\n"
        "factor = 2\n"
        "factor *= 3\n"
        "factor **= 2\n"
        "first, *rest = [1, 2, 3]\n",
        ctx,
    )
    assert ctx["count"] == 0
    assert ctx["totals"] == {"EU": 11, "US": 5}
    assert ctx["label"] == "EUUSEU"
    assert ctx["seen"] == [10, 5, 1]
    assert ctx["factor"] == 36
    assert (ctx["first"], ctx["rest"]) == (1, [2, 3])


def test_del_removes_variable_from_task_data(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"scratch": 1, "keep": 2}
    env.execute("del scratch", ctx)
    assert ctx == {"keep": 2}


def test_mutating_task_data_lists_and_dicts(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"tags": ["new"], "lead": {"score": 10}}
    env.execute(
        "tags.append('hot')\n"
        "lead['score'] = lead['score'] + 5\n"
        "lead.update({'owner': 'ada'})\n"
        "lead.setdefault('notes', []).append('called')\n",
        ctx,
    )
    assert ctx == {"tags": ["new", "hot"], "lead": {"score": 15, "owner": "ada", "notes": ["called"]}}


def test_sorted_with_key_and_builtins(env: RestrictedEnvironment) -> None:
    items = [{"id": 1, "score": 30}, {"id": 2, "score": 10}, {"id": 3, "score": 20}]
    assert env.evaluate("[i['id'] for i in sorted(items, key=lambda i: i['score'])]", {"items": items}) == [2, 3, 1]
    assert env.evaluate("max(items, key=lambda i: i['score'])['id']", {"items": items}) == 1
    assert env.evaluate("(len(items), abs(-3), round(2.567, 2), sum([1, 2, 3]))", {"items": items}) == (
        3, 3, 2.57, 6,
    )
    assert env.evaluate("isinstance(x, (int, float)) and not isinstance(x, str)", {"x": 3}) is True
    assert env.evaluate("next((i['id'] for i in items if i['score'] < 15), None)", {"items": items}) == 2
    assert env.evaluate("dict(zip(['a', 'b'], [1, 2]))", {}) == {"a": 1, "b": 2}
    assert env.evaluate("math.floor(2.7) + math.sqrt(16)", {}) == 6.0
    assert env.evaluate("list(range(3)) + list(reversed(range(2)))", {}) == [0, 1, 2, 1, 0]


def test_functions_print_and_try_except(env: RestrictedEnvironment) -> None:
    ctx: dict[str, Any] = {"raw": "12x"}
    env.execute(
        "def parse(value, default=0):\n"
        "    try:\n"
        "        return int(value)\n"
        "    except ValueError:\n"
        "        return default\n"
        "qty = parse(raw, -1)\n"
        "ok = parse('7')\n"
        "print('parsed', qty, ok)\n"
        "if qty < 0:\n"
        "    status = 'invalid'\n",
        ctx,
    )
    assert ctx == {"raw": "12x", "qty": -1, "ok": 7, "status": "invalid"}


def test_task_data_may_shadow_helper_names(env: RestrictedEnvironment) -> None:
    """Helpers are builtins, so a field called `date` or `open` is just data."""
    ctx: dict[str, Any] = {"date": "2024-05-01", "open": True, "type": "lead"}
    env.execute("label = type + ':' + date if open else ''", ctx)
    assert ctx["label"] == "lead:2024-05-01"
    assert env.evaluate("open and type == 'lead'", ctx) is True


def test_execute_leaves_only_data_in_context(env: RestrictedEnvironment) -> None:
    helper_env = RestrictedEnvironment({"tax_rate": 0.2, "double": lambda x: x * 2})
    ctx: dict[str, Any] = {"amount": 10}
    helper_env.execute(
        "import math\n"
        "from decimal import Decimal\n"
        "f = lambda x: x + 1\n"
        "def g(x):\n"
        "    return x\n"
        "taxed = double(amount) * (1 + tax_rate)\n"
        "ext = extra\n",
        ctx,
        external_context={"extra": "from-engine"},
    )
    assert set(ctx) == {"amount", "taxed", "ext"}
    assert ctx["taxed"] == 24.0
    assert ctx["ext"] == "from-engine"


def test_overwriting_predefined_names_fails_fast() -> None:
    env = RestrictedEnvironment({"helper": lambda: 1})
    with pytest.raises(ValueError, match="helper"):
        env.execute("x = 1", {"helper": 2})
    with pytest.raises(ValueError, match="ext"):
        env.execute("x = 1", {"ext": 2}, external_context={"ext": 1})
    with pytest.raises(ValueError, match="reserved by the script sandbox"):
        env.execute("x = 1", {"_getattr_": "not a guard"})


def test_task_data_cannot_replace_guards_in_evaluate(env: RestrictedEnvironment) -> None:
    data = {"__builtins__": {"open": open}, "_getattr_": getattr, "x": "s"}
    with pytest.raises(SandboxError, match="'open' is not allowed"):
        env.evaluate("open('/etc/passwd')", {k: v for k, v in data.items() if k != "open"})
    with pytest.raises(SandboxError):
        env.evaluate("getattr(x, '__class__')", data)


def test_evaluate_precedence_matches_task_data_environment() -> None:
    env = RestrictedEnvironment({"a": "global", "b": "global", "c": "global"})
    ctx = {"a": "data"}
    assert env.evaluate("(a, b, c)", ctx, external_context={"a": "ext", "b": "ext"}) == ("data", "ext", "global")
    assert ctx == {"a": "data"}


# --- check_source and caching -------------------------------------------------------------------


def test_check_source() -> None:
    assert check_source("amount > 1000") == []
    assert check_source("x = 1\nfor i in range(3):\n    x += i", "exec") == []
    syntax = check_source("x = = 1", "exec")
    assert len(syntax) == 1 and "Line 1" in syntax[0] and "SyntaxError" in syntax[0]
    refused = check_source("y = 1\nz = ().__class__", "exec")
    assert refused == ["Line 2: access to attribute '__class__' is refused"]
    assert any("'os'" in e for e in check_source("import os", "exec"))
    assert check_source("return 1", "exec")  # compile() refuses what ast.parse accepted
    assert check_source("a = 1", "eval")  # a statement is not an expression
    with pytest.raises(ValueError):
        check_source("1", "single")


def test_compile_error_carries_line_number(env: RestrictedEnvironment) -> None:
    with pytest.raises(SandboxError) as info:
        env.execute("x = 1\ny = (\n", {})
    assert "Line" in str(info.value)
    assert isinstance(info.value, SyntaxError) and info.value.lineno is not None


def test_compile_cache_is_hit(env: RestrictedEnvironment) -> None:
    clear_compile_cache()
    env.evaluate("amount > 1000", {"amount": 1})
    first = compile_cache_info()
    env.evaluate("amount > 1000", {"amount": 2000})
    check_source("amount > 1000")
    second = compile_cache_info()
    assert second.misses == first.misses
    assert second.hits == first.hits + 2
    env.execute("x = 1", {})
    env.execute("x = 1", {})
    assert compile_cache_info().hits == second.hits + 1


# --- SpiffWorkflow integration ------------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="order" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="Compute total">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="small_flow">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>big_flow</bpmn:outgoing><bpmn:outgoing>small_flow</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="gw"/>
    <bpmn:sequenceFlow id="big_flow" sourceRef="gw" targetRef="big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">amount &gt; 1000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small_flow" sourceRef="gw" targetRef="small"/>
    <bpmn:scriptTask id="big" name="Big deal">
      <bpmn:incoming>big_flow</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>route = 'approval'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="small" name="Small deal">
      <bpmn:incoming>small_flow</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>route = 'auto'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="big" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="small" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _run(script: str) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(BPMN.format(script=script).encode(), filename="order.bpmn")
    spec = parser.get_spec("order")
    workflow = BpmnWorkflow(spec, script_engine=PythonScriptEngine(environment=RestrictedEnvironment()))
    workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize(("qty", "route"), [(30, "approval"), (3, "auto")])
def test_spiff_workflow_runs_in_the_sandbox(qty: int, route: str) -> None:
    script = (
        f"lines = [{{'qty': {qty}, 'price': 50}}, {{'qty': 1, 'price': 20}}]\n"
        "amount = sum(l['qty'] * l['price'] for l in lines)\n"
    )
    workflow = _run(script)
    assert workflow.is_completed()
    assert workflow.data["route"] == route
    assert workflow.data["amount"] == qty * 50 + 20


def test_spiff_workflow_escape_fails_with_sandbox_error() -> None:
    with pytest.raises(WorkflowTaskException) as info:
        _run("amount = 1\nleak = ().__class__")
    chain: list[BaseException] = []
    err: BaseException | None = info.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    assert any(isinstance(e, SandboxError) for e in chain)
    assert info.value.error_type == "SandboxCompileError"
    assert "__class__" in str(info.value)
    assert info.value.line_number == 2
