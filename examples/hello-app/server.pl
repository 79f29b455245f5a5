#!/usr/bin/perl
# A minimal HTTP/1.0 server: one line of text per request.
use strict;
use warnings;
use IO::Socket::INET;

my $port = $ENV{PORT} || 8080;
my $server = IO::Socket::INET->new(LocalAddr => "0.0.0.0:$port", Listen => 16, ReuseAddr => 1)
  or die "cannot listen on $port: $!\n";
$SIG{TERM} = sub { exit 0 };
print "hello-app listening on $port\n";
$| = 1;

sub memory_limit {
  for my $f ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes") {
    if (open(my $fh, "<", $f)) { my $v = <$fh>; chomp $v; return $v; }
  }
  return "unknown";
}

while (my $client = $server->accept) {
  my $request = <$client> // "";
  while (my $line = <$client>) { last if $line =~ /^\r?\n$/; }
  my ($path) = $request =~ m{^\w+\s+(\S+)};
  $path //= "/";
  my $host = "unknown";
  if (open(my $fh, "<", "/proc/sys/kernel/hostname")) { chomp($host = <$fh>); }
  my $body = sprintf("%s! path=%s host=%s memory.limit=%s\n", $ENV{GREETING}, $path, $host, memory_limit());
  print $client "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
  close $client;
  print "served $path\n";
}
