"""A talk's recording, in three modules:

- `files`: where a recording's files live, the names they get, and who may fetch them;
  what the public pages and feeds read (`published_recordings`, `file_size`).
- `edits`: what an organiser does to a recording by hand: upload a video, add captions, use a
  live broadcast's recording, publish or unpublish. Every way a video arrives goes through one
  `replace_recording`, so a new video never keeps the old one's captions, chapters or date.
- `imports`: the import-job engine: a queued job, run in the background (or by the command
  line) through the import guard, with its progress on the job's row.

Functions over a Session and plain values, like every service: they validate first, raise
ServiceError with words in the user's language, write an audit entry for every organiser
action, and never commit, except `imports.execute_import`, which IS the background job: it
runs outside any request, owns its job row and commits each step so that the admin page (in
any server process) sees progress from the database.
"""
