# Sums the numbers of every input file (as sum_numbers.py does) in POSIX sh; writes the total.
total=0
for did in $(echo "$DIDS" | tr -d '[]",'); do
  for file in "$INPUTS/$did"/*; do
    while read -r number; do
      case $number in '' | *[!0-9]*) ;; *) total=$((total + number)) ;; esac
    done < "$file"
  done
done
echo "$total" > "$OUTPUTS/total.txt"
echo "sh summed: $total"
