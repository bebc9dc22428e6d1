"""Redis Streams: where the sink ships lines (``-o redis://...``) and where a stream source reads them.

``address``: the URL. ``protocol``: sans-I/O, the commands sent and the replies understood, shared by the
blocking client (threads engine) and the asyncio client (loop engines). ``client``: connecting, and what an
error means to a user. redis-py is imported only when a stream is used.
"""
