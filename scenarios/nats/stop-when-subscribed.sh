# Stops this container's nats-server (its PID 1) once a client has subscribed to SUBJECT ($1):
# the client is then connected and has read the cluster's INFO. Runs detached (setsid -f),
# polling the server's monitoring port; it dies with the container.
echo "nats-server (PID 1) stops once a client subscribes to $1"
exec </dev/null >/dev/null 2>&1
until curl -s "http://127.0.0.1:8222/connz?subs=1" | grep -qF "\"$1\""; do
  sleep 0.1
done
kill 1
