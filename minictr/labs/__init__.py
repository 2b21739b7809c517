"""Exercises of lessons 05 and later, one module per lesson: ``lNN.py``.

Each module calls ``minictr.exercises.register(Exercise(...))`` for its
exercises, whose ids start with the lesson number (``"05.hostname"``).
``exercises.get("05.hostname")`` imports ``labs/l05.py`` the first time it is
asked for, so the runtime never pays for the lessons.
"""
