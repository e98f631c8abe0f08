"""Make agents by name and let them play a map in the env.

Every agent answers ``reset(beatmap, seed) -> frame times or None`` and
``act(obs, t_ms) -> action``; ``closed_loop`` agents read the observation and play in
:class:`~osu_env.env.OsuEnv`.  Open-loop ones (the scripted players) step the env's own
:class:`~osu_env.env.Play` directly, skipping the observations they never read.
"""
from __future__ import annotations

from pathlib import Path

from osu_env.beatmap import Beatmap
from osu_env.env import OsuEnv, Play, action_to_frame, recorded_frames
from osu_env.errors import AgentError

from .baselines import SCRIPTED

LEARNED = ("bc", "wgan", "gail", "airl")
AGENT_NAMES = tuple(SCRIPTED) + LEARNED
KEYS_SUFFIX = "+keys"  # any agent's cursor with the key decoder's presses


def make_agent(name: str, checkpoint: str | Path | None = None, **kwargs):
    """An agent by name: ``autoplay``, ``flower``, ``humanized``, a trained model, or any
    of them with the sequential key decoder's presses (``bc+keys``; ``keys_checkpoint``);
    ``hand`` (a :class:`agents.hand.HandModel`) puts a hand between a trained one and the env."""
    if name.endswith(KEYS_SUFFIX):
        keys_checkpoint = kwargs.pop("keys_checkpoint", None)
        keys_options = {k: kwargs.pop(k) for k in ("keys_temperature", "keys_slider_holds") if k in kwargs}
        if keys_checkpoint is None:
            raise AgentError(f"agent {name!r} takes its keys from the key decoder: pass --keys-checkpoint (made by `osu-imitation train keys`)")
        from .keys import WithKeys

        return WithKeys(make_agent(name[: -len(KEYS_SUFFIX)], checkpoint, **kwargs), keys_checkpoint, **keys_options)
    if name in SCRIPTED:
        return SCRIPTED[name](**kwargs)
    if name in LEARNED:
        if checkpoint is None:
            raise AgentError(f"agent {name!r} is a trained model: pass --checkpoint (made by `osu-imitation train`)")
        hand = kwargs.pop("hand", None)
        if name == "bc":
            from .lstm import BCAgent

            agent = BCAgent(checkpoint, **kwargs)
        elif name == "wgan":
            from .wgan import WGANAgent

            agent = WGANAgent(checkpoint, **kwargs)
        else:
            from .gail import AdversarialAgent

            agent = AdversarialAgent(checkpoint, **kwargs)
            if agent.name != name:
                raise AgentError(f"{checkpoint}: a {agent.name} checkpoint, not {name}; use --agent {agent.name}")
        if hand is None:
            return agent
        from .hand import Handed

        return Handed(agent, hand)
    raise AgentError(f"unknown agent {name!r}; known agents: {', '.join(AGENT_NAMES)}, each also as NAME{KEYS_SUFFIX}")


def play(agent, beatmap: Beatmap, *, seed: int | None = None) -> Play:
    """Play ``beatmap`` to the end with ``agent``; the returned :class:`Play` holds the
    judged result (``.result``), the counts and the frames (``.to_replay()``).  A
    closed-loop agent acts on the env's grid; under DT/HT its path is then recorded and
    judged at osu!'s 60 Hz of real time (:func:`osu_env.env.recorded_frames`)."""
    times = agent.reset(beatmap, seed)
    if getattr(agent, "closed_loop", True):
        env = OsuEnv(beatmap)
        obs, _ = env.reset(seed=seed, options={"frame_times_ms": times} if times is not None else None)
        done = False
        while not done:
            obs, _, done, _, _ = env.step(agent.act(obs, env.play.t_ms))
        if times is not None or beatmap.clock_rate == 1.0:
            return env.play
        # under DT/HT the grid is not osu!'s 60 Hz of real time: judge the path as recorded
        recorded = recorded_frames(env.play.frames, beatmap.clock_rate)
        p = Play(beatmap, frame_times_ms=[f[0] for f in recorded])
        for _, x, y, keys in recorded:
            p.advance(x, y, keys)
        return p
    p = Play(beatmap, frame_times_ms=times)
    while not p.done:
        p.advance(*action_to_frame(agent.act(None, p.t_ms)))
    return p
