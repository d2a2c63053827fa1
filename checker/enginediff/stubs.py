"""Small stand-ins for the heavy engine modules imported by the language-side files.

The four engine files the harness loads (``multimodal_language.py``, ``utils.py``,
``base/conn.py``, ``fake/conn.py``) import, at both commits, names from the scheduler, the
schedule batch, server args, the prefix cache, the forward batch info, ``sglang.srt.utils`` and
the Mooncake connection. None of those is needed to run the two language queues, so each is
replaced by a module holding just the names imported, with the minimum behaviour the queues use.
"""

from __future__ import annotations

import enum
import os
from types import ModuleType
from typing import Any

from . import scripted

EMBEDDING_NAMES = ("MooncakeEmbeddingManager", "MooncakeEmbeddingReceiver",
                   "MooncakeEmbeddingSender", "MooncakeEmbeddingBootstrapServer",
                   "EmbeddingTransferError")
PACKAGES = (
    "sglang",
    "sglang.srt",
    "sglang.srt.managers",
    "sglang.srt.mem_cache",
    "sglang.srt.model_executor",
    "sglang.srt.disaggregation.mooncake",
)


class ServerArgs:
    def __init__(self, **kwargs: Any) -> None:
        self.disaggregation_ib_device: str | None = None
        self.disaggregation_mode = "language"
        self.disaggregation_bootstrap_port = 8998
        self.dist_init_addr: str | None = None
        self.host = "127.0.0.1"
        self.tp_size = 1
        self.dp_size = 1
        self.pp_size = 1
        self.enable_dp_attention = False
        self.enable_metrics = False
        self.__dict__.update(kwargs)


class DynamicGradMode:
    """Decorator factory used on the scheduler event loops: returns the function unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs

    def __call__(self, fn: Any) -> Any:
        return fn


def is_npu() -> bool:
    return False


def get_free_port() -> int:
    """The connection layer's ports are fixed per manager (transport.py) so that every rank
    process agrees on them."""
    from . import transport

    b = transport.bus()
    side, i = b.owner or ("lang", b.local_rank)
    return (transport.LANG_PORT if side == "lang" else transport.EMB_PORT) + i


def get_int_env_var(name: str, default: int = 0) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def get_bool_env_var(name: str, default: str = "false") -> bool:
    return os.environ.get(name, default).lower() in ("true", "1")


def get_local_ip() -> str:
    return "127.0.0.1"


def format_tcp_address(ip: str, port: int) -> str:
    return f"tcp://{ip}:{port}"


def is_valid_ipv6_address(address: str) -> bool:
    del address
    return False


def maybe_wrap_ipv6_address(address: str) -> str:
    return address


class FINISH_ABORT:  # noqa: N801 - engine name
    def __init__(self, message: str | None = None, status_code: Any = None,
                 err_type: Any = None) -> None:
        self.message = message
        self.status_code = status_code
        self.err_type = err_type


class Modality(enum.Enum):
    IMAGE = 1
    MULTI_IMAGES = 2
    VIDEO = 3
    AUDIO = 4


class MultimodalDataItem:
    def __init__(self, modality: Any = None, **kwargs: Any) -> None:
        self.modality = modality
        self.__dict__.update(kwargs)


class MultimodalInputs:
    def __init__(self, mm_items: list[Any] | None = None, **kwargs: Any) -> None:
        self.mm_items = mm_items or []
        self.mrope_positions: Any = None
        self.mrope_position_delta: Any = None
        self.__dict__.update(kwargs)


class Req:
    """The engine request, reduced to what the language queues read and write.

    The final assembly reads ``aux[0]`` from ``partial_aux_datas`` just before deleting it;
    deletion is intercepted so the harness can report the value the engine used.
    """

    def __init__(self, rid: str, bootstrap_room: int, bootstrap_host: str = "127.0.0.1",
                 data_parallel_rank: int | None = None,
                 origin_input_ids: list[int] | None = None) -> None:
        self.rid = rid
        self.bootstrap_room = bootstrap_room
        self.bootstrap_host = bootstrap_host
        self.data_parallel_rank = data_parallel_rank
        self.finished_reason: Any = None
        self.return_logprob = False
        self.origin_input_ids: list[int] = list(origin_input_ids or [])
        self.input_embeds: Any = None
        self.multimodal_inputs: Any = None
        self.embedding_indices: Any = None
        self.ranksync_deleted_aux: list[int] | None = None

    def __delattr__(self, name: str) -> None:
        if name == "partial_aux_datas":
            value = self.__dict__.get(name)
            if value is not None:
                flat = [int(v) for v in list(value)[:2]]
                object.__setattr__(self, "ranksync_deleted_aux", flat)
        object.__delattr__(self, name)


class _Placeholder:
    """A class that is imported by name but never used by the language queues."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs


def _placeholder(name: str) -> type:
    return type(name, (_Placeholder,), {})


class ForwardMode(enum.IntEnum):
    EXTEND = 1
    DECODE = 2
    MIXED = 3
    IDLE = 4


def _module(name: str, package: bool = False, **attrs: Any) -> ModuleType:
    mod = ModuleType(name)
    mod.__dict__["__ranksync_stub__"] = True
    if package:
        mod.__path__ = []
    mod.__dict__.update(attrs)
    return mod


def stub_modules() -> dict[str, ModuleType]:
    """Fresh stand-in modules, by module name (packages ``sglang`` … included)."""
    mods: dict[str, ModuleType] = {name: _module(name, package=True) for name in PACKAGES}
    mods["sglang.srt.server_args"] = _module("sglang.srt.server_args", ServerArgs=ServerArgs)
    mods["sglang.srt.utils"] = _module(
        "sglang.srt.utils", is_npu=is_npu, DynamicGradMode=DynamicGradMode,
        get_free_port=get_free_port, get_int_env_var=get_int_env_var,
        get_bool_env_var=get_bool_env_var, get_local_ip_by_remote=get_local_ip,
        get_local_ip_auto=get_local_ip, format_tcp_address=format_tcp_address,
        is_valid_ipv6_address=is_valid_ipv6_address,
        maybe_wrap_ipv6_address=maybe_wrap_ipv6_address)
    mods["sglang.srt.managers.schedule_batch"] = _module(
        "sglang.srt.managers.schedule_batch", FINISH_ABORT=FINISH_ABORT, Modality=Modality,
        MultimodalDataItem=MultimodalDataItem, MultimodalInputs=MultimodalInputs,
        ScheduleBatch=_placeholder("ScheduleBatch"), Req=Req)
    mods["sglang.srt.managers.scheduler"] = _module(
        "sglang.srt.managers.scheduler", Scheduler=_placeholder("Scheduler"),
        GenerationBatchResult=_placeholder("GenerationBatchResult"))
    mods["sglang.srt.mem_cache.base_prefix_cache"] = _module(
        "sglang.srt.mem_cache.base_prefix_cache", BasePrefixCache=_placeholder("BasePrefixCache"))
    mods["sglang.srt.model_executor.forward_batch_info"] = _module(
        "sglang.srt.model_executor.forward_batch_info", ForwardMode=ForwardMode)
    conn_mm = _module(
        "sglang.srt.disaggregation.mooncake.conn_multimodal",
        MooncakeEmbeddingManager=scripted.ScriptedManager,
        MooncakeEmbeddingReceiver=scripted.ScriptedReceiver,
        MooncakeEmbeddingSender=_placeholder("MooncakeEmbeddingSender"),
        MooncakeEmbeddingBootstrapServer=_placeholder("MooncakeEmbeddingBootstrapServer"),
        EmbeddingTransferError=scripted.EmbeddingTransferError)
    kv_names = ("MooncakeKVBootstrapServer", "MooncakeKVManager", "MooncakeKVReceiver",
                "MooncakeKVSender")
    kv = {n: _placeholder(n) for n in kv_names}
    mods["sglang.srt.disaggregation.mooncake.conn"] = _module(
        "sglang.srt.disaggregation.mooncake.conn")
    mods["sglang.srt.disaggregation.mooncake.conn"].__dict__.update(kv)
    mods["sglang.srt.disaggregation.mooncake.conn_multimodal"] = conn_mm
    mooncake = mods["sglang.srt.disaggregation.mooncake"]
    mooncake.__dict__.update(kv)
    # commits whose mooncake/__init__ re-exports the embedding classes (8abf55e3d: aliases
    # in the unified conn.py) import them from the package; the loader replaces these with
    # the real classes when it can load the engine's connection module
    mooncake.__dict__.update({n: getattr(conn_mm, n) for n in EMBEDDING_NAMES})
    mooncake.__dict__["conn"] = mods["sglang.srt.disaggregation.mooncake.conn"]
    mooncake.__dict__["conn_multimodal"] = conn_mm
    # parent.child attributes, as the import system would set them
    for name, mod in mods.items():
        parent, _, child = name.rpartition(".")
        if parent in mods:
            setattr(mods[parent], child, mod)
    return mods
