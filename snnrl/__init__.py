"""snnrl: spiking, plastic reinforcement-learning agents and the benchmark suite to judge them."""

from snnrl.envs import register_envs

__version__ = "0.1.0"

register_envs()

__all__ = ["__version__", "register_envs"]
