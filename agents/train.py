"""Training, CleanRL style: arguments in one dataclass, then the loop top to bottom.

The pieces every trainer shares live here too: device choice (CUDA when present),
seeding, DDP under ``torchrun`` (gloo on CPU, NCCL on GPU), TensorBoard scalars, tqdm,
and checkpoints written atomically (temp file + rename) and loaded with
``weights_only=True``, so a run killed at any moment resumes from its last checkpoint
with ``--resume``.  Window sampling is seeded by (seed, rank, step), so a resumed run
draws the same batches it would have drawn.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from osu_env.errors import OsuInputError

from .dataset import Dataset, mirror_index, release_keys, rotate_about_centre, shift_cursor, spin_sense, spinning
from .lstm import LSTMPolicy, bc_losses, load_policy


@dataclass
class BCArgs:
    data: str  # dataset folder from `osu-imitation dataset`
    out: str  # checkpoint folder (last.pt, TensorBoard logs)
    steps: int = 3000  # optimizer steps
    batch: int = 32  # windows per step (per process under DDP)
    window: int = 256  # steps per window (256 x 16.7 ms = 4.3 s of play)
    lr: float = 1e-3  # Adam learning rate (cosine-decayed to 10%)
    hidden: int = 256  # LSTM width
    layers: int = 2  # LSTM layers
    mixtures: int = 5  # Gaussian components of the cursor head
    key_weight: float = 1.0  # weight of the key loss beside the cursor NLL
    mirror: bool = False  # augment: flip map and cursor top-bottom (as HR does) half of the time (hurt on held-out maps)
    cursor_noise_px: float = 12.0  # augment: shift the previous cursor by N(0, this) px per step
    spinner_share: float = 0.5  # share of windows placed over a spinner (they are ~2% of play)
    spinner_rotate: bool = True  # augment: turn windows with a spinner under way by a random angle about its centre
    spin_one_way: bool = False  # augment: mirror spinner windows spun the less common way, so all spin alike (measured: README)
    release_keys: float = 0.0  # augment: share of windows whose previous keys read "up" over a random span (measured: README)
    init: str | None = None  # start from this checkpoint's weights (fine-tuning), new optimizer
    seed: int = 0  # seeds init and window sampling
    device: str | None = None  # cuda when present, else cpu
    checkpoint_every: int = 200  # steps between checkpoints
    val_every: int = 200  # steps between validation losses
    resume: bool = False  # continue from out/last.pt
    force: bool = False  # overwrite a run already in out/


def pick_device(name: str | None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def save_checkpoint(path: Path, payload: dict) -> None:
    """torch.save to a temporary file beside ``path``, then an atomic rename."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank() if world > 1 else 0), world


def train_bc(args: BCArgs) -> dict:
    """Behavioural cloning of the LSTM policy; returns the final metrics."""
    rank, world = _distributed()
    device = pick_device(args.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    out = Path(args.out)
    if (out / "last.pt").exists() and not (args.resume or args.force):
        raise OsuInputError(f"{out}: holds a checkpoint already; pass --resume to continue it or --force to start over")
    out.mkdir(parents=True, exist_ok=True)
    ds = Dataset(args.data)
    train_eps, val_eps = ds.split("train"), ds.split("val")
    if not train_eps:
        raise OsuInputError(f"{args.data}: no training episodes")
    torch.manual_seed(args.seed)
    model = LSTMPolicy(ds.obs.shape[1], args.hidden, args.layers, args.mixtures).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    # cosine decay to 10%; a plain float (a numpy scalar would not load with weights_only=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 + 0.45 * (1 + math.cos(math.pi * min(s / max(args.steps, 1), 1.0))))
    if args.init:
        try:
            model.load_state_dict(load_policy(args.init, device).state_dict())
        except RuntimeError as e:
            raise OsuInputError(f"{args.init}: its model does not match --hidden/--layers ({str(e).splitlines()[0]})") from None
    anchors = ds.spinning_steps(train_eps) if args.spinner_share > 0 else None
    start = 0
    ckpt_path = out / "last.pt"
    if args.resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start = int(ckpt["step"])
        if rank == 0:
            print(f"resuming from step {start} ({ckpt_path})", flush=True)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    amp = device.type == "cuda"
    flip = torch.as_tensor(mirror_index(ds.k), device=device)

    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=start if start else None)
    config = {"model": model.config, "args": asdict(args), "k_objects": ds.k, "step_ms": ds.meta["step_ms"]}

    metrics: dict = {}
    t0, seen = time.perf_counter(), 0
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="bc", disable=rank != 0)
    for step in bar:
        rng = np.random.default_rng((args.seed, rank, step))
        obs, act, prev = (torch.as_tensor(a, device=device) for a in ds.sample_windows(train_eps, args.batch, args.window, rng, anchors, args.spinner_share))
        m = torch.zeros(args.batch, dtype=torch.bool, device=device)
        if args.mirror:
            m ^= torch.as_tensor(rng.random(args.batch) < 0.5, device=device)
        if args.spin_one_way:
            # Humans spin both ways (about 2:1 in the data); a policy cloned from both
            # hedges between them and reverses mid-spin, which bleeds off stable's
            # damped spin speed.  A top-bottom mirror turns a spin the other way round.
            sense = spin_sense(obs)
            m = torch.where(sense != 0, sense > 0, m)
        if m.any():
            obs[:, :, flip] = torch.where(m[:, None, None], -obs[:, :, flip], obs[:, :, flip])
            act[..., 1] = torch.where(m[:, None], -act[..., 1], act[..., 1])
            prev[..., 1] = torch.where(m[:, None], -prev[..., 1], prev[..., 1])
        if args.spinner_rotate:
            theta = torch.as_tensor(rng.uniform(0, 2 * math.pi, args.batch), dtype=torch.float32, device=device)
            theta = torch.where(spinning(obs).any(1), theta, torch.zeros_like(theta))
            obs, act, prev = rotate_about_centre(obs, act, prev, theta, ds.k)
        if args.cursor_noise_px > 0:
            g = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**31)))
            d = (torch.randn(2, *obs.shape[:2], generator=g) * args.cursor_noise_px).to(device)
            obs, prev = shift_cursor(obs, prev, d[0], d[1], ds.k)
        if args.release_keys > 0:
            prev = release_keys(prev, rng, args.release_keys)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            nll, bce = bc_losses(net, obs, act, prev)
            loss = nll + args.key_weight * bce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        seen += args.batch * world
        done = step + 1
        if rank == 0:
            nll, bce, loss = nll.item(), bce.item(), loss.item()
            metrics.update({"train/cursor_nll": nll, "train/key_bce": bce, "train/loss": loss})
            if done % 20 == 0 or done == args.steps:
                rate = seen / (time.perf_counter() - t0)
                writer.add_scalar("train/loss", loss, done)
                writer.add_scalar("train/cursor_nll", nll, done)
                writer.add_scalar("train/key_bce", bce, done)
                writer.add_scalar("train/sequences_per_s", rate, done)
                writer.add_scalar("train/lr", sched.get_last_lr()[0], done)
                bar.set_postfix(nll=f"{nll:.3f}", keys=f"{bce:.3f}", seq_s=f"{rate:.0f}")
            if val_eps and (done % args.val_every == 0 or done == args.steps):
                metrics.update(validate(model, ds, val_eps, args, device))
                for key in ("val/cursor_nll", "val/key_bce"):
                    writer.add_scalar(key, metrics[key], done)
            if done % args.checkpoint_every == 0 or done == args.steps:
                save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                            "scheduler": sched.state_dict(), "step": done, "config": config})
    if writer is not None:
        writer.close()
    if world > 1:
        torch.distributed.barrier()
    metrics["sequences_per_s"] = seen / max(time.perf_counter() - t0, 1e-9)
    return metrics


@torch.no_grad()
def validate(model: LSTMPolicy, ds: Dataset, episodes, args: BCArgs, device, batches: int = 4) -> dict:
    """Cursor NLL and key BCE on windows of the held-out maps (fixed draw)."""
    model.eval()
    rng = np.random.default_rng(12345)
    nlls, bces = [], []
    for _ in range(batches):
        obs, act, prev = (torch.as_tensor(a, device=device) for a in ds.sample_windows(episodes, args.batch, args.window, rng))
        nll, bce = bc_losses(model, obs, act, prev)
        nlls.append(float(nll))
        bces.append(float(bce))
    model.train()
    return {"val/cursor_nll": float(np.mean(nlls)), "val/key_bce": float(np.mean(bces))}
