// Sums the numbers of every input file (as sum_numbers.py does); writes the total.
const fs = require("fs");
const path = require("path");
let total = 0;
for (const did of JSON.parse(process.env.DIDS)) {
  const folder = path.join(process.env.INPUTS, did);
  for (const name of fs.readdirSync(folder).sort()) {
    for (const word of fs.readFileSync(path.join(folder, name), "utf8").split(/\s+/)) {
      if (/^[0-9]+$/.test(word)) total += Number(word);
    }
  }
}
fs.writeFileSync(path.join(process.env.OUTPUTS, "total.txt"), `${total}\n`);
console.log(`node ${process.version} summed: ${total}`);
