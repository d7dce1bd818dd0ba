# Turns a text file into a C translation unit defining
#   const char <SYMBOL>[] (NUL-terminated) and const size_t <SYMBOL>_len.
# Usage: cmake -DINPUT=driver.py -DOUTPUT=out.c -DSYMBOL=name -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
"/* Generated from ${INPUT} by embed.cmake: do not edit. */\n"
"#include <stddef.h>\n"
"extern const char ${SYMBOL}[];\n"
"extern const size_t ${SYMBOL}_len;\n"
"const char ${SYMBOL}[] = {\n    ${bytes}0x00\n};\n"
"const size_t ${SYMBOL}_len = ${len};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
