# work.pl — corpus item for tests/test_host.py: about half a second of CPU in Perl (string and
# hash work, a regex loop, a sort), then deterministic lines.
use strict;
use warnings;

my ($x, %count) = (12345);
for (1 .. 600_000) {
	$x = ($x * 1103515245 + 12345) % 2147483648;
	$count{sprintf("%x", $x % 40000)}++;
}
my @top = (sort { $count{$b} <=> $count{$a} or $a cmp $b } keys %count)[0 .. 2];
print "words ", scalar(keys %count), " @top\n";
my $text = join(" ", map { "item$_" } 1 .. 200_000);
my $n = () = $text =~ /item\d*7\b/g;
print "matches $n\n";
my $sum = 0;
$sum = ($sum * 31 + $_) % 1_000_003 for 1 .. 2_000_000;
print "sum $sum\n";
warn "perl: to stderr\n";
