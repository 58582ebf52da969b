# private-postfix.sh — sourced, not run: a Postfix instance of a script's own,
# beside any installed one: config DIR/pf, queue DIR/q, log DIR/q/maillog,
# myhostname relay.test, no inet listener (it only sends).  Needs root, the
# postfix user and the postdrop group.  Loopback only: the caller's extra
# main.cf lines say where mail goes.
#   private_postfix_start DIR 'relayhost = [127.0.0.1]:2525' ...
#       writes its main.cf (the lines given come last), checks and starts it;
#       the exit status of postfix check and start, their output on stdout
#   private_postfix_stop DIR
#       stops it if it was configured (for a cleanup trap; always status 0)

private_postfix_start() {
  pp_dir=$1
  shift
  mkdir -p "$pp_dir/pf" "$pp_dir/q" || return 1
  chmod 755 "$pp_dir"
  cp /usr/share/postfix/master.cf.dist "$pp_dir/pf/master.cf" || return 1
  {
    cat <<EOC
compatibility_level = 3.6
queue_directory = $pp_dir/q
data_directory = $pp_dir/q/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
master_service_disable = inet
maillog_file = $pp_dir/q/maillog
maillog_file_prefixes = $pp_dir
EOC
    printf '%s\n' "$@"
  } > "$pp_dir/pf/main.cf"
  postfix -c "$pp_dir/pf" check 2>&1 && postfix -c "$pp_dir/pf" start 2>&1
}

private_postfix_stop() {
  if [ -f "$1/pf/main.cf" ]; then
    postfix -c "$1/pf" stop >/dev/null 2>&1
    rm -f "$1/pf/main.cf"
  fi
  return 0
}
