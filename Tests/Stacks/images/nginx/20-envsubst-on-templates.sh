#!/bin/sh
# /etc/nginx/templates/*.template → /etc/nginx/conf.d/*, with the environment's variables substituted
# (only those defined, so nginx's own $variables stay).
set -e
dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
out=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
[ -d "$dir" ] || exit 0
if [ ! -w "$out" ]; then echo "$0: ERROR: $dir exists, but $out is not writable" >&2; exit 0; fi
defined=$(printf '${%s} ' $(env | cut -d= -f1))
find "$dir" -follow -type f -name "*$suffix" -print | while read -r template; do
  relative=${template#"$dir/"}
  target="$out/${relative%"$suffix"}"
  mkdir -p "$(dirname "$target")"
  echo "$0: Running envsubst on $template to $target"
  envsubst "$defined" < "$template" > "$target"
done
