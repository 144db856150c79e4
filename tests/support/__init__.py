"""Shared test support: the naive models and helpers the stateful tests compare against."""
