"""What the platform does, as functions over a database session and plain values.

Services never commit and know nothing of Flask's request, Socket.IO or templates; the faces
(server/web, server/sockets, the CLI) call them, commit once, then render or emit.
"""
