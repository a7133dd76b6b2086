"""Leaderboards students check: rankings under pseudonyms, published as a static site."""

from grader.leaderboard.ranking import Board, Entry, board, boards
from grader.leaderboard.site import publish

__all__ = ["Board", "Entry", "board", "boards", "publish"]
