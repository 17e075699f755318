"""The live room (/live) against real server processes, through real sockets."""
