"""`grader serve`: a web service where students hand in during the window and see where they stand.

One machine, the course's own folder: the same gradebook (SQLite in WAL mode), whose service tables
(grader.serve.store) hold the sign-in tokens, the sessions, the queue, the daily limits and the
reveals. An upload is checked and committed before it is acknowledged (grader.serve.intake); worker
processes in the server's own process tree take the queue fairly between students and grade each
hand-in as `grader run` does, in the sandbox (grader.serve.workers, grader.pipeline.grade_submissions);
the web app (grader.serve.app) shows each student their own runs, the queue position and the live
progress, and the board.
"""
