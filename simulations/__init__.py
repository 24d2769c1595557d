"""Simulations: self-play of simulated seekers against counselor graphs."""

__all__: list[str] = []
