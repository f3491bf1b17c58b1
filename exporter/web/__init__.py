"""The HTTP edge: routes, the landing page, the server, access and limits, and the intake
endpoints' request handling (bodies, content types, signatures, answers)."""
