"""Text in pictures: the OCR engine, page layout, QR codes, and the OCR memory.

ocr.py runs tesseract; layout.py rebuilds lines and columns from its words;
qr.py decodes QR codes; ocrcache.py and ocrshare.py make sure one picture is
read once per scan, even when several workers meet it. May import
extract.base (the extraction context) and the top-level modules; never run,
cache or detect.
"""
