"""The sandbox's compile-time policy (RestrictedPython with stricter rules) and the compile cache."""

from __future__ import annotations

import ast
import copy
import functools
import re
import types
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from .sandbox_builtins import _COMPILE_REFUSED
from .sandbox_core import _MODULE_ATTRS, _MODULES, COMPILE_CACHE_SIZE, MAX_INT_BITS, SandboxCompileError
from .sandbox_guards import _DENIED_ATTRS, _FORMAT_ATTRS, _import_refusal

# --- compile-time policy ------------------------------------------------------------------------

_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Mult: "_mul_", ast.Pow: "_pow_", ast.Add: "_add_", ast.LShift: "_lshift_", ast.Mod: "_mod_",
}
_SIMPLE_NODES = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Tuple, ast.Slice, ast.UnaryOp)


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, like)  # type: ignore[arg-type]
    return node


def _is_simple(node: ast.AST | None) -> bool:
    """Side-effect-free enough to evaluate twice (``d[k] += 1`` reads and writes ``d[k]``)."""
    return node is None or (
        isinstance(node, _SIMPLE_NODES) and all(_is_simple(c) for c in ast.iter_child_nodes(node)
                                                if isinstance(c, ast.expr))
    )


class _SandboxTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy plus: size guards on ``* ** + << %`` and f-string specs, a time
    tick in loops and functions, an import allow-list, no classes, clearer refusal messages."""

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in _COMPILE_REFUSED or node.id == "__import__":
            self.error(node, f"{node.id!r} is not allowed in diagram scripts")
            return node
        if node.id.startswith("_") and node.id != "_":
            self.error(node, f"name {node.id!r} is refused (names starting with '_' are reserved)")
            return node
        if node.id == "print" and isinstance(node.ctx, ast.Load):
            new = ast.Name("_print_fn_", ast.Load())
            copy_locations(new, node)
            return new
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        attr = node.attr
        if (attr.startswith("_") and attr != "_") or attr in _DENIED_ATTRS:
            node = self.node_contents_visit(node)  # inner refusals first: reads left to right
            self.error(node, f"access to attribute {attr!r} is refused")
            return node
        if attr in _FORMAT_ATTRS and isinstance(node.value, (ast.Constant, ast.JoinedStr)):
            if isinstance(node.value, ast.JoinedStr) or isinstance(node.value.value, str):
                node = self.node_contents_visit(node)
                self.error(node, f'"{attr}" on strings is refused (use f-strings)')
                return node
        return super().visit_Attribute(node)

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            return self.node_contents_visit(node)  # visit_Name refuses it; skip the duplicate message
        return super().visit_Call(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if type(node.value) is int and node.value.bit_length() > MAX_INT_BITS:
            self.error(node, f"integer literal is too large (ints are limited to {MAX_INT_BITS:,} bits)")
        return super().visit_Constant(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return _call(guard, [node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        node.value = _call("_format_", [node.value, node.format_spec, ast.Constant(node.conversion)], node)
        node.format_spec = None
        node.conversion = -1
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        target = node.target
        if isinstance(target, ast.Subscript) and _is_simple(target.value) and _is_simple(target.slice):
            # d[k] += v  ->  _write_(d)[k] = _inplacevar_('+=', _getitem_(d, k), v)
            load = copy.deepcopy(target)
            load.ctx = ast.Load()
            op = ast.Constant(_INPLACE_OPS[type(node.op)])
            value = _call("_inplacevar_", [op, self.visit(load), self.visit(node.value)], node)
            new = ast.Assign(targets=[self.visit(target)], value=value)
            copy_locations(new, node)
            return new
        return super().visit_AugAssign(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed in diagram scripts")
        return node

    def visit_Import(self, node: ast.Import) -> Any:
        for alias in node.names:
            if alias.name not in _MODULES:
                self.error(node, _import_refusal(alias.name))
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        module = node.module or ""
        if node.level or module not in _MODULES:
            self.error(node, _import_refusal("." * node.level + module))
        else:
            for alias in node.names:
                if alias.name not in _MODULE_ATTRS[module]:
                    self.error(node, f"importing {alias.name!r} from {module!r} is refused")
        return super().visit_ImportFrom(node)

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        tick = ast.Expr(_call("_tick_", [], node))
        copy_locations(tick, node)
        node.body.insert(0, tick)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        tick = ast.Expr(_call("_tick_", [], node))
        copy_locations(tick, node)
        node.body.insert(0, tick)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = _call("_tick_", [node.body], node.body)
        return node


_INPLACE_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.FloorDiv: "//=", ast.Mod: "%=",
    ast.Pow: "**=", ast.LShift: "<<=", ast.RShift: ">>=", ast.BitOr: "|=", ast.BitAnd: "&=",
    ast.BitXor: "^=", ast.MatMult: "@=",
}

# --- compiling, cached ----------------------------------------------------------------------------

_LINE = re.compile(r"^Line (\d+)")


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile(source: str, mode: str) -> tuple[types.CodeType | None, tuple[str, ...]]:
    """(code, errors) per (source, mode); errors are cached too, so the validator is cheap."""
    # eval() strips surrounding whitespace of conditions written on their own line in the XML.
    text = source.strip() if mode == "eval" else source
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(text, filename="<string>", policy=_SandboxTransformer)
    except SyntaxError as err:  # raised by compile() itself, e.g. 'return' outside function
        return None, (f"Line {err.lineno}: SyntaxError: {err.msg}",)
    except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
        return None, (f"cannot compile: {type(err).__name__}: {err}",)
    errors = tuple(dict.fromkeys(result.errors))  # drop duplicates, keep order
    return (None if errors else result.code), errors


def _compiled(source: str, mode: str) -> types.CodeType:
    if not isinstance(source, str):
        raise TypeError(f"expected script text (str), got {type(source).__name__}")
    code, errors = _compile(source, mode)
    if code is None:
        match = _LINE.match(errors[0]) if errors else None
        raise SandboxCompileError("; ".join(errors), int(match.group(1)) if match else None)
    return code


def check_source(source: str, mode: str = "eval") -> list[str]:
    """Compile-only check for the validator: human-readable errors (syntax errors with their
    line, refused constructs); [] when fine. mode is 'eval' or 'exec'."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        return [f"expected script text (str), got {type(source).__name__}"]
    return list(_compile(source, mode)[1])


def compile_cache_info() -> functools._CacheInfo:
    """hits/misses/maxsize/currsize of the compile cache (scripts must not compile per call)."""
    return _compile.cache_info()


def clear_compile_cache() -> None:
    _compile.cache_clear()
