#!/bin/bash
# bash, not sh: Debian's /bin/sh (dash) drops environment variables whose names are not shell names
# (`discovery.type=single-node`) from what it passes on, so the node never saw them and every start waited
# for a cluster bootstrap; bash passes them through to java untouched.
#
# The entry point of devenv's offline OpenSearch image, with the official image's contract as far as
# devenv uses it: settings from environment variables named like settings (`discovery.type=single-node`,
# read by the Java main), the heap and other JVM flags from OPENSEARCH_JAVA_OPTS (after the defaults, so
# they win), HTTP on 9200, data under /usr/share/opensearch/data. There is no security plugin, so
# DISABLE_SECURITY_PLUGIN and the demo-config variables have nothing to switch off.
set -eu

if [ "${1:-opensearch}" != opensearch ]; then
  exec "$@"
fi

home=/usr/share/opensearch
# The defaults of the official distribution's config/jvm.options that matter in a container.
# shellcheck disable=SC2086 # OPENSEARCH_JAVA_OPTS is a list of flags, split as the official launcher does
exec java \
  -Xms1g -Xmx1g \
  -XX:+UseG1GC -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30 \
  -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath=$home/data -XX:ErrorFile=$home/logs/hs_err_pid%p.log \
  -XX:-OmitStackTraceInFastThrow -Dfile.encoding=UTF-8 -Djava.io.tmpdir=/tmp -Djna.nosys=true \
  -Djava.locale.providers=SPI,COMPAT \
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
  -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true \
  -Dopensearch.networkaddress.cache.ttl=60 -Dopensearch.networkaddress.cache.negative.ttl=10 \
  ${OPENSEARCH_JAVA_OPTS:-} \
  -Dopensearch.path.home=$home -Dopensearch.path.conf=$home/config \
  -cp "$home/lib/*" devenv.opensearch.EmbeddedOpenSearch
