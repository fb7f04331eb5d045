0require ["mime", "foreverypart", "extracttext", "variables", "fileinto"];
foreverypart :name "o" {
  if header :mime :anychild :param "filename" :contains "content-disposition" "pdf" { fileinto "pdf"; }
  foreverypart { extracttext :first 20 :lower "t"; if string :contains "${t}" "inner" { break :name "o"; } }
  if address :mime :all :is "from" "c@example.com" { break; }
  if exists :mime "content-type" { keep; }
}
